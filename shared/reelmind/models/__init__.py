"""Pretrained models on onnxruntime: the registry of files and checksums, and one runner per model."""
