"""How interaction events count toward a video's engagement counters (`VideoStats`).

One rule for every store: an impression counts one impression; a play one play, and also one long view
when `watch_s >= long_view_s`; a like, follow or share one of its kind; a skip nothing. A store does
not know a video's duration, so "long" is a plain watch-time threshold (`REELMIND_LONG_VIEW_S`);
training labels that need the duration (a share of the video watched) are derived from the exported
log instead. Only an event stored for the first time counts: a duplicate never does.
"""

from __future__ import annotations

from reelmind.domain.interactions import Interaction, InteractionType

#: The counters of `reelmind.ranking.types.VideoStats`, in its field order.
COUNTERS = ("impressions", "plays", "long_views", "likes", "follows", "shares")
#: Default long-view threshold in seconds of watch time.
LONG_VIEW_S = 10.0

_COUNTER_OF = {
    InteractionType.IMPRESSION: "impressions",
    InteractionType.PLAY: "plays",
    InteractionType.LIKE: "likes",
    InteractionType.FOLLOW: "follows",
    InteractionType.SHARE: "shares",
}


def increments(event: Interaction, long_view_s: float) -> dict[str, int]:
    """The counters one new event adds to its video."""
    out: dict[str, int] = {}
    counter = _COUNTER_OF.get(event.type)
    if counter is not None:
        out[counter] = 1
    if event.type is InteractionType.PLAY and event.watch_s is not None and event.watch_s >= long_view_s:
        out["long_views"] = 1
    return out
