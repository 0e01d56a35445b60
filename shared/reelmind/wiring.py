"""Which function handles which event, read from `template.yaml` so local runs and AWS cannot drift.

The template is parsed as data (CloudFormation's short-form tags become their long form). For each
`AWS::Serverless::Function` we learn where its code is, its handler string (`Handler` for a zip
function, the first item of `ImageConfig.Command` for an image function, whose module is found beside
its Dockerfile or in the folder its `FUNCTION` build argument names), and its triggers: S3
object-created notifications (prefix and suffix filters), EventBridge rules (event patterns) and SQS
queues. A bucket's own `NotificationConfiguration.QueueConfigurations` say which objects reach which
queue, so an upload finds the function that polls the queue its bucket notifies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reelmind.errors import ConfigError

_INTRINSICS = ("Ref", "Condition")


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in _INTRINSICS else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@dataclass(frozen=True, slots=True)
class S3Trigger:
    bucket: str  # logical id of the bucket
    prefix: str = ""
    suffix: str = ""

    def accepts(self, key: str) -> bool:
        return key.startswith(self.prefix) and key.endswith(self.suffix)


@dataclass(frozen=True, slots=True)
class RuleTrigger:
    pattern: dict[str, Any]


@dataclass(frozen=True, slots=True)
class QueueNotification:
    """A bucket's object-created notifications (under a prefix, with a suffix) sent to an SQS queue."""

    bucket: str  # logical id of the bucket
    queue: str  # logical id of the queue
    prefix: str = ""
    suffix: str = ""

    def accepts(self, key: str) -> bool:
        return key.startswith(self.prefix) and key.endswith(self.suffix)


@dataclass(frozen=True, slots=True)
class SqsTrigger:
    """A function's `SQS` event: the queue it polls, and whether it answers with partial batch failures."""

    queue: str  # logical id of the queue
    batch_size: int = 10
    report_batch_item_failures: bool = False


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str  # "module.attribute", as Lambda reads it
    timeout_s: int
    memory_mb: int
    s3_triggers: tuple[S3Trigger, ...] = ()
    rule_triggers: tuple[RuleTrigger, ...] = ()
    sqs_triggers: tuple[SqsTrigger, ...] = ()
    environment: Mapping[str, Any] = field(default_factory=dict)

    @property
    def module_path(self) -> Path:
        module = self.handler.rsplit(".", 1)[0]
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True, slots=True)
class Wiring:
    functions: dict[str, FunctionSpec]
    notifications: tuple[QueueNotification, ...] = ()

    def for_object(self, key: str) -> list[FunctionSpec]:
        """The functions S3 invokes directly for an object created under `key`."""
        return [f for f in self.functions.values() if any(t.accepts(key) for t in f.s3_triggers)]

    def queues_for_object(self, key: str) -> list[str]:
        """The queues (logical ids) a bucket notifies of an object created under `key`."""
        return list(dict.fromkeys(n.queue for n in self.notifications if n.accepts(key)))

    def for_queue(self, queue: str) -> list[tuple[FunctionSpec, SqsTrigger]]:
        """The functions that poll the queue, each with its `SQS` event."""
        return [(f, t) for f in self.functions.values() for t in f.sqs_triggers if t.queue == queue]

    def for_event(self, envelope: Mapping[str, Any]) -> list[FunctionSpec]:
        return [
            f for f in self.functions.values() if any(matches(t.pattern, envelope) for t in f.rule_triggers)
        ]


def load_template(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_CfnLoader)
    except FileNotFoundError:
        raise ConfigError(f"template not found at {path}; set REELMIND_TEMPLATE") from None
    if not isinstance(data, dict) or "Resources" not in data:
        raise ConfigError(f"{path} is not a CloudFormation template")
    return data


def read_wiring(path: Path) -> Wiring:
    template = load_template(path)
    root = path.parent
    globals_fn = template.get("Globals", {}).get("Function", {})
    functions: dict[str, FunctionSpec] = {}
    for logical_id, res in template["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**globals_fn, **res.get("Properties", {})}
        code_dir, handler = _code_location(logical_id, res, props, root)
        s3: list[S3Trigger] = []
        rules: list[RuleTrigger] = []
        sqs: list[SqsTrigger] = []
        for event in (props.get("Events") or {}).values():
            kind, eprops = event.get("Type"), event.get("Properties", {})
            if kind == "S3":
                s3.append(_s3_trigger(eprops))
            elif kind in {"EventBridgeRule", "CloudWatchEvent"}:
                rules.append(RuleTrigger(pattern=eprops["Pattern"]))
            elif kind == "SQS":
                sqs.append(_sqs_trigger(logical_id, eprops))
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=code_dir,
            handler=handler,
            timeout_s=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            s3_triggers=tuple(s3),
            rule_triggers=tuple(rules),
            sqs_triggers=tuple(sqs),
            environment=(props.get("Environment") or {}).get("Variables", {}),
        )
    notifications = [
        n
        for logical_id, res in template["Resources"].items()
        if res.get("Type") == "AWS::S3::Bucket"
        for n in _queue_notifications(logical_id, res.get("Properties", {}))
    ]
    return Wiring(functions, tuple(notifications))


def _code_location(
    logical_id: str, res: Mapping[str, Any], props: Mapping[str, Any], root: Path
) -> tuple[Path, str]:
    if props.get("PackageType") == "Image":
        # The handler module sits beside the Dockerfile, or in the folder its FUNCTION build argument
        # names when several functions share one Dockerfile (functions/Dockerfile).
        meta = res.get("Metadata", {})
        dockerfile = Path(meta.get("DockerContext", ".")) / meta.get("Dockerfile", "Dockerfile")
        function_dir = str((meta.get("DockerBuildArgs") or {}).get("FUNCTION", ""))
        command = (props.get("ImageConfig") or {}).get("Command") or []
        if not command:
            raise ConfigError(f"{logical_id}: an image function needs ImageConfig.Command")
        return (root / dockerfile).parent / function_dir, str(command[0])
    code_uri, handler = props.get("CodeUri"), props.get("Handler")
    if not isinstance(code_uri, str) or not isinstance(handler, str):
        raise ConfigError(f"{logical_id}: a zip function needs a CodeUri path and a Handler")
    return root / code_uri, handler


def _key_filter(filter_: Mapping[str, Any] | None) -> dict[str, str]:
    rules = (filter_ or {}).get("S3Key", {}).get("Rules", [])
    return {r["Name"].lower(): r["Value"] for r in rules}


def _s3_trigger(props: Mapping[str, Any]) -> S3Trigger:
    bucket = props.get("Bucket", {})
    values = _key_filter(props.get("Filter"))
    return S3Trigger(
        bucket=bucket.get("Ref", "") if isinstance(bucket, dict) else str(bucket),
        prefix=values.get("prefix", ""),
        suffix=values.get("suffix", ""),
    )


def _queue_id(owner: str, value: Any) -> str:
    """The logical id of a queue named by its ARN (`!GetAtt Queue.Arn`), or an ARN given as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        att = value.get("Fn::GetAtt")
        if isinstance(att, list) and len(att) == 2 and att[1] == "Arn":
            return str(att[0])
    raise ConfigError(f"{owner}: name the queue by its ARN (!GetAtt Queue.Arn), not {value!r}")


def _sqs_trigger(logical_id: str, props: Mapping[str, Any]) -> SqsTrigger:
    return SqsTrigger(
        queue=_queue_id(logical_id, props.get("Queue")),
        batch_size=int(props.get("BatchSize", 10)),
        report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
    )


def _queue_notifications(bucket: str, props: Mapping[str, Any]) -> list[QueueNotification]:
    configs = (props.get("NotificationConfiguration") or {}).get("QueueConfigurations") or []
    out = []
    for config in configs:
        if not str(config.get("Event", "")).startswith("s3:ObjectCreated:"):
            continue  # the local blob store announces object creation only
        values = _key_filter(config.get("Filter"))
        out.append(
            QueueNotification(
                bucket=bucket,
                queue=_queue_id(bucket, config.get("Queue")),
                prefix=values.get("prefix", ""),
                suffix=values.get("suffix", ""),
            )
        )
    return out


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge pattern matching: literals, nested objects, prefix, anything-but, exists."""
    for key, expected in pattern.items():
        present = key in event
        value = event.get(key)
        if isinstance(expected, Mapping):
            if not isinstance(value, Mapping) or not matches(expected, value):
                return False
            continue
        values = value if isinstance(value, list) else [value]
        if not any(_match_one(rule, v, present) for rule in expected for v in values):
            return False
    return True


def _match_one(rule: Any, value: Any, present: bool) -> bool:
    if not isinstance(rule, Mapping):
        return present and rule == value
    if "exists" in rule:
        return bool(rule["exists"]) == present
    if "prefix" in rule:
        return isinstance(value, str) and value.startswith(rule["prefix"])
    if "anything-but" in rule:
        but = rule["anything-but"]
        return present and value not in (but if isinstance(but, list) else [but])
    raise ConfigError(f"event pattern rule {dict(rule)} is not supported by the local runner")
