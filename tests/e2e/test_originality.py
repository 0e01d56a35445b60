"""Originality through the real pipeline: ingest, then the originality analyzer with its embedding index.

Every fixture clip and six transformed copies of it are uploaded; whichever member of a group is
uploaded first is its original, and every other member must end up marked a duplicate of it, in
whatever order the analyzer happens to see them. Distinct clips must never be linked.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from reelmind.runtime import Runtime


@pytest.mark.slow
def test_reuploads_are_duplicates_of_the_first_upload_and_nothing_else_is(
    runtime: Runtime, reuploads: dict[str, tuple[str, Path]]
) -> None:
    rng = random.Random(11)
    names = sorted(reuploads)
    rng.shuffle(names)  # upload order decides which member of a group is the original
    video_of: dict[str, str] = {}
    for name in names:
        _, path = reuploads[name]
        key = f"uploads/{name.replace('.', '-')}/clip.mp4"
        runtime.blobs.put_file(key, path)
        outcome = runtime.ingest.handle_upload(key)
        assert outcome.status.value == "READY", (name, outcome)
        video_of[name] = outcome.video_id
    first_of: dict[str, str] = {}
    for name in names:
        first_of.setdefault(reuploads[name][0], name)

    analysis_order = list(names)
    rng.shuffle(analysis_order)  # later uploads are often analyzed before the original
    for name in analysis_order:
        assert runtime.analysis.run("originality", video_of[name]).status == "ok"

    name_of = {v: k for k, v in video_of.items()}
    tp = fp = fn = 0
    wrong: list[str] = []
    for name in names:
        payload = runtime.results.get_results(video_of[name])["originality"].payload
        dup = payload["duplicate_of"]
        expected = None if first_of[reuploads[name][0]] == name else first_of[reuploads[name][0]]
        got = name_of[dup["video_id"]] if dup else None
        assert payload["original"] is (dup is None)
        if got is not None and reuploads[got][0] == reuploads[name][0]:
            tp += 1
        elif got is not None:
            fp += 1
        if expected is not None and got is None:
            fn += 1
        if got != expected:
            wrong.append(f"{name}: expected {expected}, got {got}")
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    report = f"{len(names)} uploads: precision {precision:.3f}, recall {recall:.3f}; " + "; ".join(wrong[:8])
    assert precision >= 0.95 and recall >= 0.95, report
    assert fp == 0, report
    assert not wrong, report
