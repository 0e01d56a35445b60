"""What ranking reads and returns: the serving contract between the feed and the ranker.

The feed builds these from the stores (video understanding results, interaction history); the
simulator builds the same types from its synthetic world, so training and serving share one feature
path (`reelmind.ranking.features`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

#: The tasks the multi-task ranker predicts, each a probability per candidate.
TASKS = ("click", "long_view", "like", "follow")


@dataclass(frozen=True, slots=True)
class VideoFeatures:
    """What content understanding says about a video, as ranking uses it."""

    video_id: str
    category: str  # top-level taxonomy category id; "" when the video has no tags yet
    quality: float  # quality score 0-100; 50.0 when not analysed yet
    embedding: np.ndarray  # unit semantic vector (float32), the embed analyzer's space
    created_at: float  # epoch seconds
    duration_s: float
    author_id: str = ""


@dataclass(frozen=True, slots=True)
class VideoStats:
    """Engagement counters of a video (all users), as popularity and cold-start features."""

    impressions: int = 0
    plays: int = 0
    long_views: int = 0
    likes: int = 0
    follows: int = 0
    shares: int = 0


@dataclass(frozen=True, slots=True)
class Candidate:
    video: VideoFeatures
    stats: VideoStats = field(default_factory=VideoStats)


@dataclass(frozen=True, slots=True)
class UserHistory:
    """A user's past engagement, most recent last: the source of long-term interest features."""

    user_id: str
    video_ids: tuple[str, ...] = ()
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (n, dim)
    engagement: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # (n,) 0..1 per video
    categories: tuple[str, ...] = ()  # category of each history video
    impressions: int = 0  # the user's recent impressions (at most the last 100: ranking.dataset.USER_WINDOW)
    plays: int = 0  # ... and how many of them they played

    @property
    def is_new(self) -> bool:
        return len(self.video_ids) == 0


class Ranker(Protocol):
    """Scores candidates for one user: task name -> probability per candidate, in candidate order."""

    @property
    def version(self) -> str: ...

    def score(
        self, user: UserHistory, candidates: Sequence[Candidate], now: float
    ) -> dict[str, np.ndarray]: ...
