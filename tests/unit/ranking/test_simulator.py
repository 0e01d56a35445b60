"""The simulated world: seeded, shaped like the real event log, and its labels follow its oracle."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from reelmind.domain.interactions import InteractionType
from reelmind.domain.taxonomy import default_taxonomy
from reelmind.models.registry import ModelRegistry
from reelmind.models.text import TextEmbedder
from reelmind.ranking.dataset import Examples, label_impressions, long_view_threshold
from reelmind.ranking.simulator import SimConfig, SimLog, World, cached_text_centroids, make_world, simulate
from reelmind.ranking.types import TASKS
from reelmind.settings import Settings

TINY = SimConfig(seed=11, n_users=40, n_videos=80, n_authors=20, days=2)


def test_the_same_seed_gives_the_same_log_and_another_seed_another() -> None:
    a, b = simulate(make_world(TINY)), simulate(make_world(TINY))
    c = simulate(make_world(replace(TINY, seed=12)))
    assert a.log.event_id.tolist() == b.log.event_id.tolist()
    assert np.array_equal(a.log.at, b.log.at)
    assert np.array_equal(a.oracle, b.oracle)
    assert [v.replace("12-", "11-") for v in c.log.video_id.tolist()] != a.log.video_id.tolist()
    assert not np.array_equal(np.round(c.oracle[:50], 6), np.round(a.oracle[:50], 6))


def test_videos_have_taxonomy_categories_unit_embeddings_and_plausible_attributes(world: World) -> None:
    level1 = set(default_taxonomy().level1_ids)
    videos = world.videos.features
    assert {v.category for v in videos} <= level1
    assert len({v.category for v in videos}) >= 5
    emb = np.stack([v.embedding for v in videos])
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert all(0 <= v.quality <= 100 and 3 <= v.duration_s <= 300 and v.author_id for v in videos)
    # videos of one category sit closer together than videos of different ones
    cats = np.array([v.category for v in videos])
    sims = emb @ emb.T
    same = cats[:, None] == cats[None, :]
    np.fill_diagonal(same, False)
    assert sims[same].mean() > sims[~same].mean() + 0.3


def test_the_log_is_made_of_valid_interactions(sim: SimLog) -> None:
    events = sim.log.interactions()
    assert len({e.event_id for e in events}) == len(events)
    kinds = {e.type for e in events}
    assert kinds == set(InteractionType)
    for e in events:
        if e.type is InteractionType.PLAY:
            assert e.watch_s is not None and e.watch_s > 0 and e.position is not None
        elif e.type is InteractionType.IMPRESSION:
            assert e.position is not None and e.watch_s is None and e.request_id
        else:
            assert e.watch_s is None
    assert all(a <= b for a, b in zip(sim.log.at[:-1], sim.log.at[1:], strict=True))
    assert len(sim.impression_ids) == int((sim.log.type == "impression").sum())


def test_labels_from_events_agree_with_the_oracle(examples: Examples, sim: SimLog) -> None:
    oracle = sim.oracle_for(examples.event_id)
    for k, task in enumerate(TASKS):
        observed, expected = examples.labels[:, k].mean(), oracle[:, k].mean()
        n = len(examples)
        tolerance = 4 * np.sqrt(expected * (1 - expected) / n) + 1e-3
        assert abs(observed - expected) < tolerance, task
        # impressions the oracle rates higher are engaged with more often
        high = oracle[:, k] > np.median(oracle[:, k])
        assert examples.labels[high, k].mean() > examples.labels[~high, k].mean(), task


def test_long_views_are_exactly_the_draws_and_only_after_a_play(world: World, sim: SimLog) -> None:
    durations = world.videos.table.durations()
    imps = label_impressions(sim.log, durations)
    clicked = imps.labels[:, 0] > 0
    assert not (imps.labels[~clicked, 1:] > 0).any()
    duration = np.array([durations[v] for v in imps.video_id])
    long_view = imps.labels[:, 1] > 0
    assert (imps.watch_s[long_view] >= long_view_threshold(duration[long_view])).all()
    assert (imps.watch_s[clicked & ~long_view] < long_view_threshold(duration[clicked & ~long_view])).all()


def test_position_and_popularity_bias(world: World) -> None:
    users = np.zeros(200, np.int64)
    videos = np.arange(200)
    top = world.probabilities(users, videos, np.zeros(200), np.zeros(200))
    low = world.probabilities(users, videos, np.full(200, 7), np.zeros(200))
    popular = world.probabilities(users, videos, np.zeros(200), np.full(200, 500.0))
    assert (top[:, 0] > low[:, 0]).all()
    assert (popular[:, 0] > top[:, 0]).all()
    assert (top[:, 1:] <= top[:, :1] + 1e-12).all()  # every signal needs a click


def test_new_videos_come_from_the_same_process(world: World) -> None:
    new = world.new_videos(200, created_at=1.8e9, seed=1)
    assert all(v.created_at == 1.8e9 for v in new.features)
    assert not {v.video_id for v in new.features} & {v.video_id for v in world.videos.features}
    assert abs(float(new.appeal.mean()) - float(world.videos.appeal.mean())) < 0.35
    quality = np.array([v.quality for v in new.features])
    assert np.corrcoef(quality, new.appeal)[0, 1] > 0.4


def test_category_centroids_can_be_real_minilm_embeddings_of_the_category_names(tmp_path: Path) -> None:
    embedder = TextEmbedder.from_registry(ModelRegistry(Settings().model_dir, threads=1))
    categories = default_taxonomy().level1_ids
    centroids = cached_text_centroids(embedder, categories, tmp_path)
    assert centroids.shape == (len(categories), 384)
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-5)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    assert np.array_equal(cached_text_centroids(embedder, categories, tmp_path), centroids)  # from the cache
    # the names mean something: a query about pets lands nearest the animals centroid
    query = embedder(["a cute puppy playing with a kitten"])[0]
    assert categories[int(np.argmax(centroids @ query))] == "animals"
    world = make_world(replace(TINY, dim=384), centroids=centroids)
    emb = np.stack([v.embedding for v in world.videos.features])
    assert emb.shape == (TINY.n_videos, 384)
    cats = [categories.index(v.category) for v in world.videos.features]
    assert (np.einsum("nd,nd->n", emb, centroids[cats]) > 0.5).mean() > 0.9
