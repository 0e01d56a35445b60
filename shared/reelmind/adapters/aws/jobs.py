"""Jobs on AWS: job records in the results table, and SageMaker asynchronous inference as the runner.

A job item is pk `JOB#<id>`, sk `META`, with `status` and `data` (the JSON of `Job.to_dict()`); updates
are conditional on the status. The runner writes the request to `jobs/{id}/request.json` and calls
`InvokeEndpointAsync` on the kind's endpoint with `InferenceId` = the job id. The endpoint's async
config sends its output to `s3://<bucket>/jobs/` and failures to the same prefix, so SageMaker writes
`jobs/{id}.out` or `jobs/{id}-error.out`, whose object-created event starts `job_complete`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import boto3
from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.models import Model

from reelmind.adapters.aws.errors import aws_errors
from reelmind.adapters.aws.results import _dynamo, dynamo_location
from reelmind.domain.jobs import Job, JobStatus
from reelmind.errors import ConfigError
from reelmind.ports import JobRequest

JOB_PREFIX = "JOB#"
META = "META"


class JobItem(Model):
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()
    data = UnicodeAttribute()


@functools.cache
def _model(table: str, endpoint: str | None, region_name: str | None) -> type[JobItem]:
    class BoundJobItem(JobItem):
        class Meta:
            table_name = table
            host = endpoint
            region = region_name

    return BoundJobItem


class DynamoJobStore:
    def __init__(self, table: str) -> None:
        host, region = dynamo_location()
        self._jobs = _model(table, host, region)

    def create_job(self, job: Job) -> bool:
        item = self._jobs(
            JOB_PREFIX + job.job_id, META, status=job.status.value, data=json.dumps(job.to_dict())
        )
        with _dynamo(f"create job {job.job_id!r}"):
            try:
                item.save(condition=self._jobs.pk.does_not_exist())
            except PutError as e:
                if e.cause_response_code == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def get_job(self, job_id: str) -> Job | None:
        with _dynamo(f"get job {job_id!r}"):
            try:
                item = self._jobs.get(JOB_PREFIX + job_id, META, consistent_read=True)
            except DoesNotExist:
                return None
        return Job.from_dict(json.loads(item.data))

    def update_job(self, job_id: str, *, expected: Sequence[JobStatus], changes: Mapping[str, Any]) -> bool:
        current = self.get_job(job_id)
        if current is None or current.status not in expected:
            return False
        data = {**current.to_dict(), **changes}
        job = Job.from_dict(data)
        j = self._jobs
        condition = j.status == current.status.value
        with _dynamo(f"update job {job_id!r}"):
            try:
                j(JOB_PREFIX + job_id, META).update(
                    [j.status.set(job.status.value), j.data.set(json.dumps(job.to_dict()))],
                    condition=condition,
                )
            except UpdateError as e:
                if e.cause_response_code == "ConditionalCheckFailedException":
                    return False
                raise
        return True


class SageMakerJobRunner:
    """Submits a job to the SageMaker async endpoint named for its kind."""

    def __init__(self, bucket: str, endpoints: Mapping[str, str], client: Any = None, s3: Any = None) -> None:
        self.bucket = bucket
        self.endpoints = dict(endpoints)
        self._runtime: Any = client or boto3.client("sagemaker-runtime")
        self._s3: Any = s3 or boto3.client("s3")

    def submit(self, request: JobRequest) -> None:
        endpoint = self.endpoints.get(request.kind)
        if not endpoint:
            raise ConfigError(
                f"no SageMaker endpoint for {request.kind} jobs: set REELMIND_ENDPOINT_{request.kind.upper()}"
            )
        key = f"jobs/{request.job_id}/request.json"
        body = json.dumps({**asdict(request), "store": f"s3://{self.bucket}"})
        with aws_errors(f"write the request of job {request.job_id}"):
            self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=body.encode(), ContentType="application/json"
            )
        with aws_errors(f"submit job {request.job_id} to {endpoint}"):
            self._runtime.invoke_endpoint_async(
                EndpointName=endpoint,
                InputLocation=f"s3://{self.bucket}/{key}",
                ContentType="application/json",
                InferenceId=request.job_id,
            )
