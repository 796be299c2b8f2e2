"""The ``onnx`` flavor on ONNX Runtime, and ``--optimize onnx`` for scikit-learn models.

The first ONNX output is served as ``predict`` and a second tensor output (a classifier's
probabilities, as skl2onnx emits them with ``zipmap`` off) as ``predict_proba``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from cnai.serving.runtimes.base import ModelDir, ModelInput, Runtime

log = logging.getLogger("cnai.serving")

_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64}


class OnnxRuntime(Runtime):
    flavor = "onnx"

    def __init__(self, model_dir: ModelDir, model_bytes: bytes) -> None:
        import onnxruntime as ort

        super().__init__(model_dir)
        options = ort.SessionOptions()
        # One thread: the server's concurrency comes from batching and workers, not intra-op threads.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_dtype = _ORT_TYPES.get(inp.type, np.float32)
        outs = [o for o in self.session.get_outputs() if o.type.startswith("tensor")]
        self._names = {"predict": outs[0].name}
        if len(outs) > 1:
            self._names["predict_proba"] = outs[1].name
        self.outputs = tuple(self._names)

    def predict(self, data: ModelInput, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        x = np.asarray(data, dtype=self.input_dtype)
        values = self.session.run([self._names[o] for o in outputs], {self.input_name: x})
        return {name: np.asarray(v) for name, v in zip(outputs, values, strict=True)}


def load(model_dir: ModelDir) -> Runtime:
    conf = model_dir.flavors["onnx"]
    return OnnxRuntime(model_dir, (model_dir.path / conf.get("data", "model.onnx")).read_bytes())


def convert_sklearn(runtime: Any) -> Runtime | None:
    """An ONNX runtime equivalent to the scikit-learn ``runtime``, or None (with a log line) when the
    model does not convert or its outputs differ on the input example."""
    name = runtime.model_dir.path.name
    if runtime.needs_dataframe:
        log.info("--optimize onnx: %s needs DataFrame input; keeping scikit-learn", name)
        return None
    try:
        from skl2onnx import convert_sklearn as skl_convert
        from skl2onnx.common.data_types import DoubleTensorType

        n = len(runtime.signature.columns) or int(getattr(runtime.model, "n_features_in_", 0))
        onx = skl_convert(
            runtime.model,
            initial_types=[("X", DoubleTensorType([None, n]))],
            options={id(runtime.model): {"zipmap": False}} if "predict_proba" in runtime.outputs else None,
        )
        candidate = OnnxRuntime(runtime.model_dir, onx.SerializeToString())
    except Exception as exc:
        log.info("--optimize onnx: %s does not convert (%s); keeping scikit-learn", name, exc)
        return None
    example = runtime.model_dir.input_example()
    if example is None:
        log.info("--optimize onnx: %s has no input example to check outputs on; keeping scikit-learn", name)
        return None
    x = example[runtime.signature.column_names].to_numpy(dtype=np.float64) if runtime.signature.columns else example
    want = runtime.predict(x, runtime.outputs)
    try:
        got = candidate.predict(x, candidate.outputs)
        same = set(got) == set(want) and all(
            np.allclose(np.asarray(got[k], dtype=np.float64), np.asarray(want[k], dtype=np.float64), atol=1e-5)
            if want[k].dtype.kind in "fiub"
            else np.array_equal(got[k], want[k])
            for k in want
        )
    except Exception:
        same = False
    if not same:
        log.info("--optimize onnx: %s outputs differ from scikit-learn on the input example; keeping it", name)
        return None
    log.info("--optimize onnx: serving %s with ONNX Runtime", name)
    candidate.accepts_non_finite = runtime.accepts_non_finite  # the same model: the same refusals
    return candidate
