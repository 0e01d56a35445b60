"""SageMaker inference entry point for `asr` jobs (also what the local worker pool runs)."""

from reelmind.jobs.tasks import handler

model_fn, input_fn, predict_fn, output_fn = handler("asr")
