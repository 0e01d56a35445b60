"""One settings object, read from the environment once, failing fast on a wrong value."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reelmind.domain.engagement import LONG_VIEW_S
from reelmind.domain.limits import Limits
from reelmind.errors import ConfigError

_PACKAGE_ROOT = Path(__file__).resolve().parent
#: The repository root when the package is installed in editable mode (the usual local setup).
_REPO_ROOT = _PACKAGE_ROOT.parent.parent


_DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Settings:
    backend: str = "local"
    data_dir: Path = Path("var")
    template_path: Path = _REPO_ROOT / "template.yaml"
    limits: Limits = field(default_factory=Limits)
    ingest_lease_s: float = 300.0
    keyframes_per_shot: int = 1
    max_keyframes: int = 48
    thumbnail_widths: tuple[int, ...] = (1280, 640, 320)
    thumbnail_format: str = "jpeg"
    upload_url_ttl_s: int = 900
    # models and analyzers
    model_dir: Path = _REPO_ROOT / "build" / "models"
    model_threads: int = 2
    ocr_max_frames: int = 10
    ocr_max_side: int = 640
    tag_thresholds: dict[str, float] = field(default_factory=dict)
    safety_policy: Path | None = None
    originality_candidates: int = 20
    # AWS names, required when backend == "aws"
    bucket: str | None = None
    table: str | None = None
    event_bus: str | None = None
    opensearch_endpoint: str | None = None
    idempotency_table: str | None = None  # Powertools idempotency records (aws); local: idempotency.db
    api_base_path: str = "/"  # the HTTP API's stage segment ("/dev"), stripped from request paths
    job_endpoints: dict[str, str] = field(default_factory=dict)  # SageMaker endpoint per job kind
    job_workers: int = 1
    index_prefix: str = "reelmind"
    api_keys: frozenset[str] = frozenset()
    # interactions (POST /events): the aws table, batch limits, the long-view threshold of the counters
    interactions_table: str | None = None
    events_max_batch: int = 500
    events_max_bytes: int = 1 << 20
    events_max_skew_s: float = 300.0
    events_max_age_s: float = 7 * 86400.0
    long_view_s: float = LONG_VIEW_S
    # the personal feed (GET /users/{id}/feed): the aws features table, diversity, snapshot refresh
    features_table: str | None = None
    feed_max_same_category: int = 2
    feed_refresh_s: float = 2.0
    # the ranker: how often serving re-reads models/ranker/current.json, the days retraining reads
    ranker_check_s: float = 60.0
    retrain_window_days: float = 14.0
    # ranker training jobs (aws): image, execution role, instance type, and the prefix of their names
    training_image: str | None = None
    training_role_arn: str | None = None
    training_instance_type: str = "ml.m5.large"
    training_job_prefix: str = "reelmind-local-ranker-"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        backend = env.get("REELMIND_BACKEND", "local")
        if backend not in {"local", "aws"}:
            raise ConfigError(f"REELMIND_BACKEND must be 'local' or 'aws', not {backend!r}")
        limits = Limits(
            max_bytes=_int(env, "REELMIND_MAX_UPLOAD_BYTES", _DEFAULT_LIMITS.max_bytes),
            max_duration_s=_float(env, "REELMIND_MAX_DURATION_S", _DEFAULT_LIMITS.max_duration_s),
            max_frames=_int(env, "REELMIND_MAX_FRAMES", _DEFAULT_LIMITS.max_frames),
            max_width=_int(env, "REELMIND_MAX_WIDTH", _DEFAULT_LIMITS.max_width),
            max_height=_int(env, "REELMIND_MAX_HEIGHT", _DEFAULT_LIMITS.max_height),
        )
        fmt = env.get("REELMIND_THUMBNAIL_FORMAT", "jpeg")
        if fmt not in {"jpeg", "webp"}:
            raise ConfigError(f"REELMIND_THUMBNAIL_FORMAT must be 'jpeg' or 'webp', not {fmt!r}")
        settings = cls(
            backend=backend,
            data_dir=Path(env.get("REELMIND_DATA_DIR", "var")),
            template_path=Path(env.get("REELMIND_TEMPLATE", str(_REPO_ROOT / "template.yaml"))),
            limits=limits,
            ingest_lease_s=_float(env, "REELMIND_INGEST_LEASE_S", 300.0),
            max_keyframes=_int(env, "REELMIND_MAX_KEYFRAMES", 48),
            thumbnail_format=fmt,
            model_dir=Path(env.get("REELMIND_MODEL_DIR") or _REPO_ROOT / "build" / "models"),
            model_threads=_int(env, "REELMIND_MODEL_THREADS", 2),
            ocr_max_frames=_int(env, "REELMIND_OCR_MAX_FRAMES", 10),
            ocr_max_side=_int(env, "REELMIND_OCR_MAX_SIDE", 640),
            tag_thresholds=_thresholds(env.get("REELMIND_TAG_THRESHOLDS", "")),
            safety_policy=Path(env["REELMIND_SAFETY_POLICY"]) if env.get("REELMIND_SAFETY_POLICY") else None,
            originality_candidates=_int(env, "REELMIND_ORIGINALITY_CANDIDATES", 20),
            bucket=env.get("REELMIND_BUCKET") or None,
            table=env.get("REELMIND_TABLE") or None,
            event_bus=env.get("REELMIND_EVENT_BUS") or None,
            opensearch_endpoint=env.get("REELMIND_OPENSEARCH_ENDPOINT") or None,
            idempotency_table=env.get("REELMIND_IDEMPOTENCY_TABLE") or None,
            api_base_path=_base_path(env.get("REELMIND_API_BASE_PATH") or "/"),
            job_endpoints={
                kind: env[f"REELMIND_ENDPOINT_{kind.upper()}"]
                for kind in ("asr", "tts", "voice", "stylize")
                if env.get(f"REELMIND_ENDPOINT_{kind.upper()}")
            },
            job_workers=_int(env, "REELMIND_JOB_WORKERS", 1),
            index_prefix=env.get("REELMIND_INDEX_PREFIX") or "reelmind",
            api_keys=frozenset(k for k in env.get("REELMIND_API_KEYS", "").split(",") if k),
            interactions_table=env.get("REELMIND_INTERACTIONS_TABLE") or None,
            events_max_batch=_int(env, "REELMIND_EVENTS_MAX_BATCH", 500),
            events_max_bytes=_int(env, "REELMIND_EVENTS_MAX_BYTES", 1 << 20),
            events_max_skew_s=_float(env, "REELMIND_EVENTS_MAX_SKEW_S", 300.0),
            events_max_age_s=_float(env, "REELMIND_EVENTS_MAX_AGE_S", 7 * 86400.0),
            long_view_s=_float(env, "REELMIND_LONG_VIEW_S", LONG_VIEW_S),
            features_table=env.get("REELMIND_FEATURES_TABLE") or None,
            feed_max_same_category=_int(env, "REELMIND_FEED_MAX_SAME_CATEGORY", 2),
            feed_refresh_s=_float(env, "REELMIND_FEED_REFRESH_S", 2.0),
            ranker_check_s=_float(env, "REELMIND_RANKER_CHECK_S", 60.0),
            retrain_window_days=_float(env, "REELMIND_RETRAIN_WINDOW_DAYS", 14.0),
            training_image=env.get("REELMIND_TRAINING_IMAGE") or None,
            training_role_arn=env.get("REELMIND_TRAINING_ROLE_ARN") or None,
            training_instance_type=env.get("REELMIND_TRAINING_INSTANCE_TYPE") or "ml.m5.large",
            training_job_prefix=_job_prefix(
                env.get("REELMIND_TRAINING_JOB_PREFIX") or "reelmind-local-ranker-"
            ),
        )
        if backend == "aws":
            missing = [
                n
                for n, v in (
                    ("REELMIND_BUCKET", settings.bucket),
                    ("REELMIND_TABLE", settings.table),
                    ("REELMIND_EVENT_BUS", settings.event_bus),
                    ("REELMIND_INTERACTIONS_TABLE", settings.interactions_table),
                    ("REELMIND_FEATURES_TABLE", settings.features_table),
                )
                if not v
            ]
            if missing:
                raise ConfigError(f"the aws backend needs {', '.join(missing)} in the environment")
        return settings


def _base_path(raw: str) -> str:
    if not raw.startswith("/") or any(c.isspace() for c in raw):
        raise ConfigError(f"REELMIND_API_BASE_PATH must be a path like /dev, not {raw!r}")
    return raw


def _job_prefix(raw: str) -> str:
    """SageMaker job names are letters, digits and hyphens, 63 at most; a version adds 16."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,46}", raw):
        raise ConfigError(f"REELMIND_TRAINING_JOB_PREFIX must be letters, digits and hyphens, not {raw!r}")
    return raw


def _thresholds(raw: str) -> dict[str, float]:
    """Per-tag thresholds for the tags analyzer, from "tabby_cat=0.3,maze=0.8"."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        tag, sep, value = part.partition("=")
        try:
            threshold = float(value)
        except ValueError:
            threshold = -1.0
        if not sep or not tag.strip() or not 0 < threshold <= 1:
            raise ConfigError(
                f"REELMIND_TAG_THRESHOLDS takes tag=threshold pairs with thresholds in (0, 1], not {part!r}"
            )
        out[tag.strip()] = threshold
    return out


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return int(_positive(env, name, default, int))


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return float(_positive(env, name, default, float))


def _positive(env: Mapping[str, str], name: str, default: float, cast: type[int] | type[float]) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    kind = "an integer" if cast is int else "a number"
    try:
        value = cast(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {kind}, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {value}")
    return value
