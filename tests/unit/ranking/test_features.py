"""One feature path: a serving request and a replayed training example give the same numbers."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from reelmind.ranking.dataset import STATS_FIELDS, Examples
from reelmind.ranking.features import FeatureSpec, bucket, encode, from_examples, from_request
from reelmind.ranking.types import Candidate, UserHistory, VideoFeatures, VideoStats

CATS = ("animals", "food", "music")


def _spec(**kw: object) -> FeatureSpec:
    return FeatureSpec(dim=3, categories=CATS, history_len=6, recent=2, top_k=3, **kw)  # type: ignore[arg-type]


def _video(vid: str, emb: list[float], category: str = "food") -> VideoFeatures:
    e = np.asarray(emb, np.float32)
    return VideoFeatures(vid, category, 80.0, e / np.linalg.norm(e), 1000.0, 30.0, author_id="a1")


def test_serving_and_training_encode_the_same_impression_identically(examples: Examples) -> None:
    spec = FeatureSpec(
        dim=examples.videos.embedding.shape[1], categories=tuple(sorted(set(examples.videos.category)))
    )
    sparse, dense = encode(spec, from_examples(spec, examples))
    assert dense.shape == (len(examples), len(spec.dense_names()))
    v = examples.videos
    # an impression late in the log, whose user has a history
    rows = np.flatnonzero((examples.hist_idx[examples.row_group] >= 0).sum(axis=1) > 20)
    for row in rows[[0, len(rows) // 2, -1]]:
        g = examples.row_group[row]
        idx = examples.hist_idx[g][examples.hist_idx[g] >= 0]
        user = UserHistory(
            user_id=str(examples.group_user[g]),
            video_ids=tuple(v.ids[idx]),
            embeddings=v.embedding[idx],
            engagement=examples.hist_eng[g][examples.hist_idx[g] >= 0],
            categories=tuple(v.category[idx]),
            impressions=int(examples.group_impressions[g]),
            plays=int(examples.group_plays[g]),
        )
        i = examples.row_video[row]
        video = VideoFeatures(
            str(v.ids[i]),
            str(v.category[i]),
            float(v.quality[i]),
            v.embedding[i],
            float(v.created_at[i]),
            float(v.duration_s[i]),
            str(v.author_id[i]),
        )
        stats = VideoStats(**{f: int(x) for f, x in zip(STATS_FIELDS, examples.stats[row], strict=True)})
        s2, d2 = encode(spec, from_request(spec, user, [Candidate(video, stats)], float(examples.now[row])))
        assert np.array_equal(s2[0], sparse[row])
        np.testing.assert_allclose(d2[0], dense[row], atol=1e-6)


def test_ids_hash_into_stable_buckets() -> None:
    assert bucket(["u1", "u2", "u1"], 8192).tolist() == [
        zlib.crc32(b"u1") % 8192,
        zlib.crc32(b"u2") % 8192,
        zlib.crc32(b"u1") % 8192,
    ]
    assert bucket(["视频"], 10)[0] == zlib.crc32("视频".encode()) % 10
    assert (bucket([f"v{i}" for i in range(1000)], 64) < 64).all()


def test_long_term_interest_finds_the_most_similar_past_videos() -> None:
    spec = _spec()
    history = UserHistory(
        user_id="u",
        video_ids=("h1", "h2", "h3", "h4"),
        impressions=30,
        plays=10,
        embeddings=np.array([[1, 0, 0], [0.6, 0.8, 0], [0, 0, 1], [0, 1, 0]], np.float32),
        engagement=np.array([1.0, 0.5, 0.25, 0.75], np.float32),
        categories=("food", "food", "music", "animals"),
    )
    candidate = Candidate(_video("c", [1, 0, 0], "food"), VideoStats(impressions=90, plays=50))
    _, dense = encode(spec, from_request(spec, history, [candidate], now=1000.0 + 3600.0))
    f = dict(zip(spec.dense_names(), dense[0].tolist(), strict=True))
    assert [f[f"lti_sim_{i}"] for i in range(3)] == pytest.approx([1.0, 0.6, 0.0], abs=1e-6)
    assert [f[f"lti_engagement_{i}"] for i in range(3)] == pytest.approx([1.0, 0.5, 0.25])
    assert [f[f"lti_same_category_{i}"] for i in range(3)] == [1.0, 1.0, 0.0]
    assert f["lti_category_share"] == pytest.approx(0.5)
    assert f["lti_category_engagement"] == pytest.approx(0.75)
    assert f["lti_weighted_engagement"] == pytest.approx((1.0 + 0.6 * 0.5) / 1.6)
    pooled = np.array([1.0 + 0.6 * 0.6, 0.6 * 0.8, 0.0])
    assert f["lti_pooled_sim"] == pytest.approx(pooled[0] / np.linalg.norm(pooled), abs=1e-6)
    engaged = np.array([1.0 + 0.6 * 0.5 * 0.6, 0.6 * 0.5 * 0.8, 0.0])
    assert f["lti_engaged_pooled_sim"] == pytest.approx(engaged[0] / np.linalg.norm(engaged), abs=1e-6)
    # recent: the last two plays (h3 music, h4 animals), neither similar nor in the category
    assert f["recent_mean_sim"] == pytest.approx(0.0) and f["recent_same_category"] == 0.0
    assert f["play_rate"] == pytest.approx(50 / 100) and f["log_impressions"] == pytest.approx(
        np.log1p(90) / 10
    )
    assert f["age"] == pytest.approx(np.log1p(1.0) / 5) and f["quality"] == pytest.approx(0.8)
    assert f["user_play_rate"] == pytest.approx((10 + 3.5) / (30 + 10))


def test_a_new_user_and_an_unknown_category_give_zeros_not_errors() -> None:
    spec = _spec()
    candidate = Candidate(_video("c", [0, 1, 0], "spaceships"))
    sparse, dense = encode(spec, from_request(spec, UserHistory("new"), [candidate, candidate], now=5000.0))
    names = spec.dense_names()
    interest = [i for i, n in enumerate(names) if n.startswith(("lti_", "recent_", "history_len"))]
    assert (dense[:, interest] == 0).all()
    assert (sparse[:, 3] == 0).all()
    assert dense.shape == (2, len(names))


def test_without_long_term_interest_the_block_is_left_out() -> None:
    with_lti, without = _spec(), _spec(long_term=False)
    assert len(with_lti.dense_names()) - len(without.dense_names()) == 3 * 3 + 5
    assert not [n for n in without.dense_names() if n.startswith("lti_")]
    _, dense = encode(
        without, from_request(without, UserHistory("u"), [Candidate(_video("c", [1, 1, 0]))], 0.0)
    )
    assert dense.shape[1] == len(without.dense_names())


def test_a_spec_survives_json_and_refuses_other_embedding_sizes() -> None:
    spec = _spec(long_term=False)
    assert FeatureSpec.from_json(spec.to_json()) == spec
    wrong = Candidate(VideoFeatures("c", "food", 50.0, np.ones(5, np.float32), 0.0, 10.0))
    with pytest.raises(ValueError, match="3-d"):
        encode(spec, from_request(spec, UserHistory("u"), [wrong], 0.0))
