"""Cold start: a content-only model ranks brand-new videos by their true appeal."""

from __future__ import annotations

import numpy as np
import pytest

from reelmind.ranking.coldstart import ColdStartModel, early_engagement, fit_coldstart
from reelmind.ranking.dataset import Examples
from reelmind.ranking.metrics import spearman
from reelmind.ranking.simulator import World
from reelmind.ranking.types import VideoFeatures


def test_new_videos_are_ranked_by_their_true_appeal(world: World, examples: Examples) -> None:
    model = fit_coldstart(examples, world.categories, version="cs-test")
    new = world.new_videos(300, created_at=float(examples.now.max()), seed=5)
    predicted = model.predict(new.features)
    assert predicted.shape == (300,) and ((predicted > 0) & (predicted < 1)).all()
    assert spearman(predicted, new.appeal) >= 0.5
    # quality alone, the obvious baseline, ranks them worse than the model
    quality = np.array([v.quality for v in new.features])
    assert spearman(predicted, new.appeal) > spearman(quality, new.appeal)


def test_the_model_survives_its_bytes(world: World, examples: Examples) -> None:
    model = fit_coldstart(examples, world.categories, version="cs-1")
    back = ColdStartModel.from_bytes(model.to_bytes())
    videos = world.videos.features[:20]
    assert back.version == "cs-1" and back.categories == world.categories
    np.testing.assert_allclose(back.predict(videos), model.predict(videos), rtol=1e-6)
    assert model.predict([]).shape == (0,)
    wrong = VideoFeatures("x", "food", 50.0, np.ones(3, np.float32), 0.0, 10.0)
    with pytest.raises(ValueError, match="embeddings"):
        model.predict([wrong])


def test_early_engagement_counts_only_the_first_impressions(examples: Examples) -> None:
    rows, count, rate = early_engagement(examples, first=10)
    assert count.max() == 10 and len(rows) == len(set(rows.tolist()))
    v = rows[np.argmax(count)]
    mine = np.flatnonzero(examples.row_video == v)
    first = mine[np.argsort(examples.now[mine], kind="stable")][:10]
    assert rate[np.argmax(count)] == pytest.approx(examples.labels[first].sum() / 40.0)
