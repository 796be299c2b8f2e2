"""Model serving: an Open Inference Protocol v2 and MLflow-scoring server (``cnai serve``).

A request flows ``app`` (ASGI, HTTP only) → ``protocol`` (bytes ↔ numpy) → ``inputs`` (tensors →
model input, checked against the MLflow signature) → ``repository`` (which model, loaded or not)
→ ``batching`` (merge concurrent requests) → ``runtimes`` (sklearn, xgboost, lightgbm, onnx,
pyfunc) and back; ``inference_log`` and ``metrics`` watch from the side.
"""
