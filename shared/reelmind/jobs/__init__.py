"""Heavy jobs: the inference code shared by SageMaker endpoints and the local worker pool."""
