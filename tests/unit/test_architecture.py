"""The arrows point down: handlers -> wiring -> services and adapters -> ports, media -> domain."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
LIBRARY = ROOT / "shared" / "reelmind"
CLOUD_SDKS = {"boto3", "botocore", "pynamodb", "opensearchpy", "sagemaker"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", _modules(LIBRARY), ids=lambda p: str(p.relative_to(LIBRARY)))
def test_only_aws_adapters_import_cloud_sdks(path: Path) -> None:
    used = {name.split(".")[0] for name in _imports(path)} & CLOUD_SDKS
    if path.is_relative_to(LIBRARY / "adapters" / "aws"):
        return
    assert not used, f"{path.relative_to(ROOT)} imports {used}"


@pytest.mark.parametrize("path", _modules(LIBRARY), ids=lambda p: str(p.relative_to(LIBRARY)))
def test_the_library_never_imports_functions(path: Path) -> None:
    assert not {n for n in _imports(path) if n.split(".")[0] == "functions"}


@pytest.mark.parametrize("path", _modules(LIBRARY / "services"), ids=lambda p: p.name)
def test_services_depend_on_ports_not_adapters(path: Path) -> None:
    assert not {n for n in _imports(path) if n.startswith("reelmind.adapters")}


@pytest.mark.parametrize("path", _modules(LIBRARY / "domain"), ids=lambda p: p.name)
def test_the_domain_does_no_io(path: Path) -> None:
    forbidden = {
        "reelmind.adapters",
        "reelmind.services",
        "reelmind.media",
        "reelmind.runtime",
        "sqlite3",
        "av",
        "cv2",
    }
    assert not {n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in forbidden)}


@pytest.mark.parametrize("path", sorted((ROOT / "functions").glob("*/app.py")), ids=lambda p: p.parent.name)
def test_handlers_are_thin(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    code_lines = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert len(code_lines) <= 22, f"{path} has {len(code_lines)} lines of code"
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert len(functions) <= 2, "one handler, or one handler factory for functions that share a module"
    for fn in functions:
        body = [n for n in fn.body if not isinstance(n, ast.Expr)]
        assert len(body) <= 2, f"{path}: the handler should parse, call one service and return"
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
