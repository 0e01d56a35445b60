"""Distribution: the user simulator, the multi-task ranker and its features, cold start, retraining.

Training code (PyTorch) lives in `reelmind.ranking.train` and is imported only where training runs;
serving reads the exported ONNX model through onnxruntime.
"""
