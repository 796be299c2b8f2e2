"""Cache keys and the cache index. ``plan`` and ``run`` both call :func:`node_keys`, so what plan
predicts is what run does.

A key is the SHA-256 of: the step's code (its normalised source: the AST of the function without
decorators, docstring, comments or formatting; the bytecode when there is no source), the
installed versions of its declared ``deps``, its literal and parameter input values, the digests
of input files, and for each input produced by another step, *that step's key*. Keys therefore
chain like a Merkle tree: an output artifact's digest is determined by its producer's key (steps
are expected to be deterministic, as every build cache assumes), and the whole set of keys is
known before anything runs. That is what makes ``plan`` exact, where Kubeflow cannot say which
steps will hit its cache until they run (kubeflow/pipelines#6727).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import inspect
import marshal
import textwrap
from typing import Any

import orjson

from cnai.artifacts import ArtifactStore, LocalArtifactStore
from cnai.errors import NotFound
from cnai.pipelines.dsl import Graph, Ref, Step

# Bump when the key's ingredients change meaning, so old entries are never misread.
KEY_VERSION = 1
CACHE_PREFIX = "pipelines/cache"


def code_hash(step: Step[..., Any]) -> str:
    fn = step.fn
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        node = tree.body[0]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.decorator_list = []
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                node.body = body[1:] or [ast.Pass()]
        text = ast.dump(node, annotate_fields=False, include_attributes=False).encode()
    except (OSError, TypeError, SyntaxError, IndexError):
        code = fn.__code__
        text = marshal.dumps((code.co_code, repr(code.co_consts), code.co_names))
    return hashlib.sha256(text).hexdigest()


def dep_versions(step: Step[..., Any]) -> dict[str, str]:
    out = {}
    for dist in step.options.deps:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not-installed"
    return out


def _encode(value: Any, keys: dict[str, str], params: dict[str, Any], file_digests: dict[str, str]) -> Any:
    if isinstance(value, Ref):
        if value.node is not None:
            return {"step-key": keys[value.node]}
        if value.param is not None:
            if value.param in file_digests:
                return {"file": file_digests[value.param]}
            return {"value": params.get(value.param)}
        return {"special": value.special}
    if isinstance(value, list | tuple):
        return [_encode(v, keys, params, file_digests) for v in value]
    return {"value": value}


def node_keys(graph: Graph, params: dict[str, Any], file_digests: dict[str, str]) -> dict[str, str]:
    """The cache key of every node, in topological order; ``file_digests`` holds the digest of
    each parameter that names a file."""
    keys: dict[str, str] = {}
    for name in graph.order():
        node = graph.nodes[name]
        payload = {
            "v": KEY_VERSION,
            "code": code_hash(node.step),
            "deps": dep_versions(node.step),
            "inputs": {arg: _encode(v, keys, params, file_digests) for arg, v in sorted(node.inputs.items())},
            "fan_out": None
            if node.fan_out is None
            else {"arg": node.fan_out.arg, "items": _encode(node.fan_out.items, keys, params, file_digests)},
        }
        keys[name] = hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return keys


def item_key(node_key: str, index: int) -> str:
    """The key of one element of a fan-out: the node's key and the element's position."""
    return hashlib.sha256(f"{node_key}/{index}".encode()).hexdigest()


class CacheIndex:
    """Cache entries as small JSON files in the artifact store, one per key."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        # On a local store, entries are read straight from disk: the path is built here from a hex
        # key (nothing a caller controls), so the store's per-call realpath checks (an lstat per
        # path component) would only add cost, and plan/rerun read one entry per step.
        self._local_root = store.root if isinstance(store, LocalArtifactStore) else None

    def _path(self, key: str) -> str:
        return f"{CACHE_PREFIX}/{key[:2]}/{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self._local_root is not None:
            try:
                local: dict[str, Any] = orjson.loads((self._local_root / self._path(key)).read_bytes())
            except FileNotFoundError:
                return None
            return local
        try:
            entry: dict[str, Any] = orjson.loads(self.store.read_bytes(self._path(key)))
        except NotFound:
            return None
        return entry

    def has(self, key: str) -> bool:
        return self.store.exists(self._path(key))

    def put(self, key: str, entry: dict[str, Any]) -> None:
        self.store.write_bytes(self._path(key), orjson.dumps(entry))
