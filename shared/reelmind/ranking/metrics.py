"""Offline ranking metrics: AUC and GAUC (per-user AUC weighted by impressions), pure numpy."""

from __future__ import annotations

import itertools

import numpy as np


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney); NaN when only one class is present."""
    y = np.asarray(labels) > 0
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    r = _ranks(np.asarray(scores, np.float64))
    return float((r[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def gauc(labels: np.ndarray, scores: np.ndarray, users: np.ndarray) -> float:
    """Per-user AUC averaged with each user's impression count as weight, over users with both classes."""
    y = np.asarray(labels) > 0
    s = np.asarray(scores, np.float64)
    _, inverse = np.unique(np.asarray(users).astype(str), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.r_[0, np.flatnonzero(np.diff(inverse[order])) + 1, len(order)]
    total, weight = 0.0, 0
    for lo, hi in itertools.pairwise(bounds):
        rows = order[lo:hi]
        value = auc(y[rows], s[rows])
        if not np.isnan(value):
            total += value * len(rows)
            weight += len(rows)
    return total / weight if weight else float("nan")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson's on ranks, ties averaged)."""
    ra, rb = _ranks(np.asarray(a, np.float64)), _ranks(np.asarray(b, np.float64))
    return float(np.corrcoef(ra, rb)[0, 1])
