"""Two HnswVectorIndex objects on one folder (two functions in one process, or the CLI beside the API)
see each other's writes, and neither's save loses the other's vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reelmind.adapters.local.vectors import HnswVectorIndex


def _unit(seed: int, n: int, dim: int = 16) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_instances_on_one_folder_stay_in_step(tmp_path: Path) -> None:
    a, b = HnswVectorIndex(tmp_path, 16), HnswVectorIndex(tmp_path, 16)
    va, vb = _unit(1, 20), _unit(2, 20)
    a.upsert([f"a{i}" for i in range(20)], va, [{}] * 20)
    assert b.query(va[3], 1)[0].id == "a3", "b sees a's write"
    b.upsert([f"b{i}" for i in range(20)], vb, [{}] * 20)
    assert a.query(vb[5], 1)[0].id == "b5", "a sees b's write"
    b.delete(["a3"])
    assert "a3" not in {h.id for h in a.query(va[3], 5)}
    fresh = HnswVectorIndex(tmp_path, 16)
    assert fresh.count() == 39
    assert {fresh.query(v, 1)[0].id for v in (va[0], vb[0])} == {"a0", "b0"}, "the saved graph has both"
