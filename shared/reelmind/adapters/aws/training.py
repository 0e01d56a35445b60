"""Ranker training as SageMaker training jobs: the `TrainingRunner` of the aws backend.

`start` calls `CreateTrainingJob` with the request's name as the job name: the training image, the
execution role (`RankerTrainingRole`), one `train` channel over `s3://<bucket>/<input_prefix>` (File
mode, so the entry point finds it in `SM_CHANNEL_TRAIN`), the output path `s3://<bucket>/<output_prefix>`
(SageMaker packs `SM_MODEL_DIR` into `<output_prefix><name>/output/model.tar.gz`), one instance of the
configured type, a run-time limit, and the hyperparameters as strings (what the API takes; the entry point
gets them as `--name value`). A name that already has a job starts nothing: the job is looked up first,
and `ResourceInUse` (two starts racing) is read as "already started". Its end is announced by SageMaker's
"SageMaker Training Job State Change" event (template.yaml's completion rule); `state` describes the job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import ClientError

from reelmind.adapters.aws.errors import aws_errors, error_code
from reelmind.errors import ConfigError, NotFound
from reelmind.ports import TrainingRequest, TrainingState

#: What DescribeTrainingJob answers for a job name that was never used.
NO_SUCH_JOB = "ValidationException"


def hyperparameters(values: dict[str, Any]) -> dict[str, str]:
    """CreateTrainingJob takes strings only; booleans as 0/1, the way the entry point's flags read them."""
    return {k: str(int(v) if isinstance(v, bool) else v) for k, v in sorted(values.items())}


def create_request(
    request: TrainingRequest,
    *,
    bucket: str,
    image: str,
    role_arn: str,
    instance_type: str,
    max_runtime_s: int,
    volume_gb: int,
) -> dict[str, Any]:
    """The CreateTrainingJob arguments of one run (a pure function, tested without a network)."""
    return {
        "TrainingJobName": request.name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "HyperParameters": hyperparameters(request.hyperparameters),
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{bucket}/{request.input_prefix}",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/{request.output_prefix}"},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": volume_gb},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_s},
        "Tags": [{"Key": "reelmind:model", "Value": "ranker"}],
    }


def job_state(job: Mapping[str, Any]) -> TrainingState:
    """A job as DescribeTrainingJob answers it, or the `detail` of its "SageMaker Training Job State
    Change" event (the same field names)."""
    return TrainingState(
        str(job["TrainingJobName"]), str(job["TrainingJobStatus"]), str(job.get("FailureReason") or "")
    )


class SageMakerTrainingRunner:
    def __init__(
        self,
        bucket: str,
        image: str | None,
        role_arn: str | None,
        instance_type: str = "ml.m5.large",
        max_runtime_s: int = 3600,
        volume_gb: int = 10,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.image = image
        self.role_arn = role_arn
        self.instance_type = instance_type
        self.max_runtime_s = max_runtime_s
        self.volume_gb = volume_gb
        self._client: Any = client

    @property
    def _sagemaker(self) -> Any:
        """Made on first use: every function builds this runner, only the retraining ones call it."""
        if self._client is None:
            self._client = boto3.client("sagemaker")
        return self._client

    def start(self, request: TrainingRequest) -> TrainingState:
        if not self.image or not self.role_arn:
            raise ConfigError(
                "ranker training jobs need REELMIND_TRAINING_IMAGE and REELMIND_TRAINING_ROLE_ARN "
                "(the stack's RankerTrainingImage parameter and RankerTrainingRole)"
            )
        try:
            return self.state(request.name)
        except NotFound:
            pass
        args = create_request(
            request,
            bucket=self.bucket,
            image=self.image,
            role_arn=self.role_arn,
            instance_type=self.instance_type,
            max_runtime_s=self.max_runtime_s,
            volume_gb=self.volume_gb,
        )
        try:
            with aws_errors(f"start training job {request.name}"):
                self._sagemaker.create_training_job(**args)
        except ClientError as e:
            if error_code(e) not in {"ResourceInUse", "ResourceInUseException"}:
                raise
            return self.state(request.name)  # another start of the same run got there first
        return TrainingState(request.name, "InProgress")

    def state(self, name: str) -> TrainingState:
        try:
            with aws_errors(f"describe training job {name}"):
                job = self._sagemaker.describe_training_job(TrainingJobName=name)
        except ClientError as e:
            if error_code(e) == NO_SUCH_JOB:
                raise NotFound(f"no training job named {name!r}") from e
            raise
        return job_state(job)
