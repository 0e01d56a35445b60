"""Write one benchmark's section of docs/BENCHMARKS.md, with the machine, the command and the date."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\n"
    "Each section is written by the benchmark named in its heading (`make bench` runs them all).\n"
    "Figures are medians of repeated runs; ratios are against a baseline measured in the same run,\n"
    "since these machines are shared and noisy.\n"
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def median(values: list[float]) -> float:
    return statistics.median(values)


def command() -> str:
    """The command line that ran the benchmark, as a reader would type it from the repository root."""
    script, args = Path(sys.argv[0]).resolve(), sys.argv[1:]
    try:
        module = ".".join(script.relative_to(DOC.parents[1]).with_suffix("").parts)
    except ValueError:
        return " ".join([Path(sys.executable).name, *sys.argv])
    return " ".join(["python", "-m", module, *args])


def write_section(name: str, body: str) -> None:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text() if DOC.exists() else HEADER
    stamp = (
        f"- machine: {machine()}\n"
        f"- command: `{command()}`\n"
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}\n\n"
    )
    section = f"<!-- bench:{name} -->\n## {name}\n\n{stamp}{body.strip()}\n<!-- /bench:{name} -->\n"
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    DOC.write_text(text)
    print(f"wrote section '{name}' of {DOC}")
