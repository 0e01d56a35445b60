"""AUC, GAUC and Spearman against their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reelmind.ranking.metrics import auc, gauc, spearman


def _pairwise_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y > 0], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def test_auc_is_the_share_of_correctly_ordered_pairs_with_ties_as_half() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        y = rng.random(300) < 0.3
        s = np.round(rng.random(300) + y * 0.3, 1)  # many ties
        assert auc(y, s) == pytest.approx(_pairwise_auc(y, s))
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auc(np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.3, 0.4])) == 0.0
    assert math.isnan(auc(np.ones(4), np.arange(4)))


def test_gauc_weights_users_by_impressions_and_skips_one_class_users() -> None:
    users = np.array(["a"] * 4 + ["b"] * 2 + ["c"] * 3)
    y = np.array([1, 0, 1, 0, 1, 0, 1, 1, 1])
    s = np.array([0.9, 0.1, 0.2, 0.8, 0.1, 0.9, 0.5, 0.4, 0.3])
    a, b = _pairwise_auc(y[:4], s[:4]), _pairwise_auc(y[4:6], s[4:6])
    assert gauc(y, s, users) == pytest.approx((4 * a + 2 * b) / 6)
    assert math.isnan(gauc(np.ones(3), np.arange(3), np.array(["a", "b", "c"])))


def test_spearman_is_one_for_any_increasing_transform_and_minus_one_reversed() -> None:
    x = np.random.default_rng(1).normal(size=100)
    assert spearman(x, np.exp(x)) == pytest.approx(1.0)
    assert spearman(x, -(x**3)) == pytest.approx(-1.0)
