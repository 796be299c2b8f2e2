"""Open Inference Protocol v2 (REST): datatypes, request/response types, JSON and binary codecs.

Spec: github.com/kserve/open-inference-protocol, ``specification/protocol/inference_rest.md``, and
Triton's binary tensor data extension (``docs/protocol/extension_binary_data.md``).
"""

from cnai.serving.protocol.codec import decode_request, encode_response
from cnai.serving.protocol.datatypes import from_numpy_dtype, to_numpy_dtype
from cnai.serving.protocol.types import InferRequest, RequestedOutput, Tensor

__all__ = [
    "InferRequest",
    "RequestedOutput",
    "Tensor",
    "decode_request",
    "encode_response",
    "from_numpy_dtype",
    "to_numpy_dtype",
]
