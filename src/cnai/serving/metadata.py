"""OIP model metadata from the MLflow signature: one input per column (or the model's tensor),
and the outputs the runtime can produce."""

from __future__ import annotations

from typing import Any

from cnai.serving.repository import LoadedModel


def model_metadata(model: LoadedModel) -> dict[str, Any]:
    runtime = model.runtime
    sig = runtime.signature
    if sig.tensor is not None:
        inputs = [{"name": sig.tensor.name, "datatype": sig.tensor.datatype, "shape": list(sig.tensor.shape)}]
    else:
        inputs = [{"name": c.name, "datatype": c.datatype, "shape": [-1]} for c in sig.columns]
    predict_type = sig.output.datatype if sig.output is not None else "FP64"
    outputs = [{"name": "predict", "datatype": predict_type, "shape": [-1]}]
    if "predict_proba" in runtime.outputs:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]})
    for extra in runtime.outputs:
        if extra not in ("predict", "predict_proba"):
            outputs.append({"name": extra, "datatype": "FP64", "shape": [-1]})
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": f"mlflow_{runtime.flavor}",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"batching": type(model.executor).__name__ == "Batcher"},
    }
