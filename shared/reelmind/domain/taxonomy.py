"""Content categories: a two-level tree every image-classifier class maps into, and video-level tagging.

The classifier scores each keyframe over a fixed list of source classes (ImageNet-1k). `Taxonomy`
places every class under exactly one second-level category ("animals/cat") beneath a first-level one
("animals"), with English and Chinese names. `aggregate` turns the per-keyframe probabilities of one
video into its categories (probability mass summed up the tree) and its fine tags (classes whose
mean probability reaches their threshold).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from reelmind.errors import ConfigError

FloatArray = npt.NDArray[np.float64]

_ID = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
#: Probabilities a little above 1 (float32 softmax rounding) are accepted.
_PROB_SLACK = 1e-6
#: The C loader when PyYAML was built with libyaml: the class list parses several times faster.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Category:
    """A first-level category (`parent` None) or a second-level one (id "parent/child")."""

    id: str
    en: str
    zh: str
    parent: str | None


@dataclass(frozen=True, slots=True)
class SourceClass:
    """One output of the classifier and the second-level category it belongs to."""

    index: int
    tag: str
    en: str
    zh: str
    category: str


@dataclass(frozen=True, eq=False)
class Taxonomy:
    """The category tree, the class list and the thresholds; build it with `load` or `from_dict`.

    `membership[c, j]` is 1 when class `c` belongs to the second-level category `level2_ids[j]`;
    `parents[j, k]` is 1 when that category sits under `level1_ids[k]`. The arrays are read-only.
    """

    version: str
    level1: dict[str, Category]
    level2: dict[str, Category]
    classes: tuple[SourceClass, ...]
    thresholds: FloatArray
    category_threshold: float
    membership: FloatArray = field(repr=False)
    parents: FloatArray = field(repr=False)
    tag_index: dict[str, int] = field(repr=False)

    @property
    def level1_ids(self) -> tuple[str, ...]:
        return tuple(self.level1)

    @property
    def level2_ids(self) -> tuple[str, ...]:
        return tuple(self.level2)

    def source_class(self, tag: str) -> SourceClass:
        """The class with this tag; KeyError when there is none."""
        return self.classes[self.tag_index[tag]]

    def threshold(self, tag: str) -> float:
        return float(self.thresholds[self.tag_index[tag]])

    @classmethod
    def load(cls, path: Path | None = None) -> Taxonomy:
        """Read a taxonomy YAML file; without `path`, the one packaged with reelmind."""
        where = str(path) if path is not None else "the packaged taxonomy.yaml"
        try:
            if path is None:
                text = (files("reelmind") / "data" / "taxonomy.yaml").read_text(encoding="utf-8")
            else:
                text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {where}: {exc}") from exc
        try:
            data = yaml.load(text, Loader=_LOADER)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where} is not valid YAML: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> Taxonomy:
        """Validate plain data (as parsed from YAML) and build the taxonomy; ConfigError on any problem."""
        if not isinstance(data, Mapping):
            raise ConfigError("the taxonomy must be a mapping with version, categories and classes")
        version = _text(data.get("version"), "version")
        default_threshold = _threshold(data.get("default_threshold"), "default_threshold")
        category_threshold = _threshold(data.get("category_threshold"), "category_threshold")
        level1, level2 = _categories(data.get("categories"))
        classes = _classes(data.get("classes"), level1, level2)
        tag_index = {c.tag: c.index for c in classes}

        thresholds = np.full(len(classes), default_threshold, dtype=np.float64)
        overrides = data.get("thresholds")
        if overrides is None:
            overrides = {}
        if not isinstance(overrides, Mapping):
            raise ConfigError("thresholds must be a mapping of tag to threshold")
        _apply_thresholds(thresholds, overrides, tag_index)

        column = {cid: j for j, cid in enumerate(level2)}
        membership = np.zeros((len(classes), len(level2)), dtype=np.float64)
        for c in classes:
            membership[c.index, column[c.category]] = 1.0
        row = {cid: k for k, cid in enumerate(level1)}
        parents = np.zeros((len(level2), len(level1)), dtype=np.float64)
        for j, cat in enumerate(level2.values()):
            assert cat.parent is not None
            parents[j, row[cat.parent]] = 1.0
        for array in (thresholds, membership, parents):
            array.setflags(write=False)
        return cls(
            version=version,
            level1=level1,
            level2=level2,
            classes=classes,
            thresholds=thresholds,
            category_threshold=category_threshold,
            membership=membership,
            parents=parents,
            tag_index=tag_index,
        )

    def with_overrides(self, overrides: Mapping[str, float]) -> Taxonomy:
        """A copy whose fine-tag thresholds are replaced for the tags in `overrides`."""
        thresholds = self.thresholds.copy()
        _apply_thresholds(thresholds, overrides, self.tag_index)
        thresholds.setflags(write=False)
        return replace(self, thresholds=thresholds)


@functools.cache
def default_taxonomy() -> Taxonomy:
    """The packaged taxonomy, read once per process."""
    return Taxonomy.load()


@dataclass(frozen=True, slots=True)
class CategoryScore:
    id: str
    en: str
    zh: str
    score: float
    children: list[CategoryScore] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "en": self.en,
            "zh": self.zh,
            "score": _round(self.score),
            "children": [c.to_dict() for c in self.children],
        }


@dataclass(frozen=True, slots=True)
class TagScore:
    tag: str
    en: str
    zh: str
    category: str
    score: float  # weighted mean probability over the keyframes
    max_score: float  # highest probability in any one keyframe

    def to_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "en": self.en,
            "zh": self.zh,
            "category": self.category,
            "score": _round(self.score),
            "max_score": _round(self.max_score),
        }


@dataclass(frozen=True, slots=True)
class TagSummary:
    categories: list[CategoryScore] = field(default_factory=list)
    tags: list[TagScore] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "categories": [c.to_dict() for c in self.categories],
            "tags": [t.to_dict() for t in self.tags],
        }


def aggregate(
    taxonomy: Taxonomy,
    probs: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    top_k: int = 10,
) -> TagSummary:
    """Video-level categories and tags from per-keyframe class probabilities.

    `probs` is (frames, classes), one probability row per keyframe; `weights` (frames,) says how much each
    keyframe counts (for example how long its shot lasts) and defaults to equal. A class's video score is
    the weighted mean of its probabilities. A second-level category scores the summed video scores of its
    classes and is reported when that reaches `category_threshold`; a first-level category scores the sum
    over all its children and is reported when at least one child is. Tags are the classes whose video
    score reaches their threshold, at most `top_k`, highest first.
    """
    n_classes = len(taxonomy.classes)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != n_classes:
        raise ValueError(f"probs must have shape (frames, {n_classes}); got {p.shape}")
    if top_k < 0:
        raise ValueError(f"top_k must be at least 0; got {top_k}")
    frames = p.shape[0]
    w = _weights(weights, frames)
    if frames == 0:
        return TagSummary()
    if not np.isfinite(p).all():
        raise ValueError("probs contain NaN or infinite values")
    if p.min() < 0.0 or p.max() > 1.0 + _PROB_SLACK:
        raise ValueError("probs must lie between 0 and 1")

    mean: FloatArray = (w @ p) / w.sum()
    peak: FloatArray = p.max(axis=0)
    level2_scores: FloatArray = mean @ taxonomy.membership
    level1_scores: FloatArray = level2_scores @ taxonomy.parents
    return TagSummary(
        categories=_category_scores(taxonomy, level1_scores, level2_scores),
        tags=_tag_scores(taxonomy, mean, peak, top_k),
    )


def _category_scores(
    taxonomy: Taxonomy, level1_scores: FloatArray, level2_scores: FloatArray
) -> list[CategoryScore]:
    children: dict[str, list[CategoryScore]] = {}
    for j, cat in enumerate(taxonomy.level2.values()):
        score = float(level2_scores[j])
        if score >= taxonomy.category_threshold and cat.parent is not None:
            children.setdefault(cat.parent, []).append(CategoryScore(cat.id, cat.en, cat.zh, score))
    result = []
    for k, cat in enumerate(taxonomy.level1.values()):
        if cat.id in children:
            kids = sorted(children[cat.id], key=lambda c: -c.score)
            result.append(CategoryScore(cat.id, cat.en, cat.zh, float(level1_scores[k]), kids))
    return sorted(result, key=lambda c: -c.score)


def _tag_scores(taxonomy: Taxonomy, mean: FloatArray, peak: FloatArray, top_k: int) -> list[TagScore]:
    passing = np.flatnonzero(mean >= taxonomy.thresholds)
    order = passing[np.argsort(-mean[passing], kind="stable")][:top_k]
    tags = []
    for i in order:
        c = taxonomy.classes[int(i)]
        tags.append(TagScore(c.tag, c.en, c.zh, c.category, float(mean[i]), float(peak[i])))
    return tags


def _weights(weights: npt.ArrayLike | None, frames: int) -> FloatArray:
    if weights is None:
        return np.ones(frames, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (frames,):
        raise ValueError(f"weights must have shape ({frames},), one per frame; got {w.shape}")
    if frames == 0:
        return w
    if not np.isfinite(w).all():
        raise ValueError("weights contain NaN or infinite values")
    if w.min() < 0.0:
        raise ValueError("weights must not be negative")
    if w.sum() <= 0.0:
        raise ValueError("weights must not all be zero")
    return w


def _round(value: float) -> float:
    return round(float(value), 4)


# ----------------------------------------------------------------------------------------- validation


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} must be a non-empty string; got {value!r}")
    return value


def _identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise ConfigError(f"{what} must be a lowercase snake_case id; got {value!r}")
    return value


def _threshold(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{what} must be a number in (0, 1]; got {value!r}")
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"{what} must be in (0, 1]; got {value!r}")
    return float(value)


def _apply_thresholds(
    thresholds: FloatArray, overrides: Mapping[Any, Any], tag_index: Mapping[str, int]
) -> None:
    unknown = sorted(str(t) for t in overrides if t not in tag_index)
    if unknown:
        raise ConfigError(f"threshold overrides name unknown tags: {', '.join(unknown)}")
    for tag, value in overrides.items():
        thresholds[tag_index[tag]] = _threshold(value, f"the threshold for {tag!r}")


def _categories(raw: Any) -> tuple[dict[str, Category], dict[str, Category]]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("categories must be a non-empty list of first-level categories")
    level1: dict[str, Category] = {}
    level2: dict[str, Category] = {}
    for n, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"categories[{n}] must be a mapping with id, en, zh and children")
        cid = _identifier(entry.get("id"), f"categories[{n}].id")
        if cid in level1:
            raise ConfigError(f"first-level category {cid!r} is listed twice")
        level1[cid] = Category(
            cid, _text(entry.get("en"), f"{cid}.en"), _text(entry.get("zh"), f"{cid}.zh"), None
        )
        children = entry.get("children")
        if not isinstance(children, list) or not children:
            raise ConfigError(f"first-level category {cid!r} needs a non-empty list of children")
        for m, child in enumerate(children):
            if not isinstance(child, Mapping):
                raise ConfigError(f"{cid}.children[{m}] must be a mapping with id, en and zh")
            sub = f"{cid}/{_identifier(child.get('id'), f'{cid}.children[{m}].id')}"
            if sub in level2:
                raise ConfigError(f"second-level category {sub!r} is listed twice")
            level2[sub] = Category(
                sub, _text(child.get("en"), f"{sub}.en"), _text(child.get("zh"), f"{sub}.zh"), cid
            )
    return level1, level2


def _classes(
    raw: Any, level1: Mapping[str, Category], level2: Mapping[str, Category]
) -> tuple[SourceClass, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("classes must be a non-empty list")
    classes: list[SourceClass] = []
    seen: dict[str, int] = {}
    for n, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"classes[{n}] must be a mapping with i, tag, en, zh and cat")
        index = entry.get("i")
        if isinstance(index, bool) or index != n:
            raise ConfigError(
                f"classes[{n}] has index {index!r}; classes must be listed as 0..{len(raw) - 1} in order"
            )
        tag = _identifier(entry.get("tag"), f"classes[{n}].tag")
        if tag in seen:
            raise ConfigError(f"tag {tag!r} is used by classes {seen[tag]} and {n}")
        seen[tag] = n
        cat = entry.get("cat")
        if not isinstance(cat, str) or cat not in level2:
            head = cat.split("/", 1)[0] if isinstance(cat, str) else None
            if head is not None and head not in level1:
                raise ConfigError(f"class {n} ({tag}) names unknown first-level category {head!r} in {cat!r}")
            raise ConfigError(f"class {n} ({tag}) names unknown category {cat!r}")
        classes.append(
            SourceClass(
                n,
                tag,
                _text(entry.get("en"), f"classes[{n}].en"),
                _text(entry.get("zh"), f"classes[{n}].zh"),
                cat,
            )
        )
    return tuple(classes)
