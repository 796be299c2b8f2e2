"""Browsing a run's or a logged model's artifacts, with previews of what can be shown inline.

A preview reads at most :data:`PREVIEW_BYTES` (Parquet: :data:`PARQUET_BYTES`) of the file: text,
JSON (pretty-printed), YAML and ``MLmodel`` as text, images through the artifact proxy, the head
of CSV/TSV files as a table, and the head of Parquet files when ``pyarrow`` is installed. Paths
come from the query string and are checked by the artifact store, which refuses ``..`` and
absolute paths.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from cnai.errors import InvalidArgument, NotFound
from cnai.ui.components import Html, esc, join, link, table

if TYPE_CHECKING:
    from cnai.artifacts import ArtifactStore

PREFIX = "mlflow-artifacts:/"
PREVIEW_BYTES = 256 * 1024
PARQUET_BYTES = 64 * 1024 * 1024
HEAD_ROWS = 20
IMAGES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".svg"}
TEXT = {".txt", ".log", ".md", ".py", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh", ".html", ".xml", ".json"}


@dataclass(frozen=True)
class Tree:
    """An artifact tree served by this plane: its root in the store and the page that browses it."""

    root: str  # path in the artifact store, no leading or trailing '/'
    page: str  # e.g. /ui/runs/<id>/artifacts

    def href(self, **query: str) -> str:
        return self.page + ("?" + urlencode(query) if query else "")


def tree_of(uri: str, page: str) -> Tree | None:
    """The tree for an artifact URI, or None when it is stored outside this control plane."""
    if not uri.startswith(PREFIX):
        return None
    return Tree(uri[len(PREFIX) :].strip("/"), page)


def _clean(relative: str) -> str:
    parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidArgument("Artifact paths may not contain '..'")
    return "/".join(parts)


def download_href(tree: Tree, relative: str) -> str:
    return "/api/2.0/mlflow-artifacts/artifacts/" + quote(f"{tree.root}/{relative}".strip("/"))


def listing(store: ArtifactStore, tree: Tree, relative: str = "") -> Html:
    """The direct children of one folder, folders first, each a link into the browser."""
    relative = _clean(relative)
    folder = f"{tree.root}/{relative}".strip("/")
    rows: list[list[object]] = []
    if relative:
        parent = relative.rsplit("/", 1)[0] if "/" in relative else ""
        rows.append([link(tree.href(path=parent) if parent else tree.page, "../"), ""])
    entries = sorted(store.list(folder), key=lambda f: (not f.is_dir, f.path))
    for f in entries:
        rel = f.path[len(tree.root) :].strip("/")
        name = rel.rsplit("/", 1)[-1]
        if f.is_dir:
            rows.append([link(tree.href(path=rel), name + "/"), ""])
        else:
            rows.append([link(tree.href(file=rel), name), f.file_size if f.file_size is not None else ""])
    if not entries and not relative:
        return Html('<p class="muted">no artifacts</p>')
    return table(["name", "bytes"], rows, empty="empty folder", numeric=[1])


def _head(chunks: Iterator[bytes], limit: int) -> bytes:
    out = bytearray()
    try:
        for chunk in chunks:
            out += chunk
            if len(out) >= limit:
                break
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return bytes(out[:limit])


def preview(store: ArtifactStore, tree: Tree, relative: str) -> Html:
    """The file's preview and a download link; NotFound when no file is there."""
    relative = _clean(relative)
    if not relative:
        raise NotFound("No artifact path given")
    path = f"{tree.root}/{relative}"
    name = relative.rsplit("/", 1)[-1]
    ext = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    download = download_href(tree, relative)
    chunks, size = store.open(path)
    head_link = Html(
        f'<p class="muted small">{esc(size)} bytes · {link(download, "download")}'
        f" · in {link(tree.href(path=relative.rsplit('/', 1)[0]) if '/' in relative else tree.page, 'folder')}</p>"
    )
    if ext in IMAGES:
        _head(chunks, 0)
        return join([head_link, Html(f'<div class="preview"><img src="{esc(download)}" alt="{esc(name)}"></div>')])
    limit = PARQUET_BYTES if ext == ".parquet" else PREVIEW_BYTES
    data = _head(chunks, limit)
    cut = size > len(data)
    body = _render(name, ext, data, cut)
    note = Html(f'<p class="muted small">first {len(data)} bytes shown</p>') if cut and ext != ".parquet" else ""
    return join([head_link, Html('<div class="preview" id="preview">'), body, Html("</div>"), note])


def _render(name: str, ext: str, data: bytes, cut: bool) -> Html:
    if ext == ".parquet":
        return _parquet(data, cut)
    if ext in (".csv", ".tsv"):
        return _csv(data, "\t" if ext == ".tsv" else ",")
    text = data.decode("utf-8", errors="replace")
    if ext == ".json" and not cut:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    if ext in TEXT or name == "MLmodel" or _looks_textual(data):
        kind = "yaml" if name == "MLmodel" or ext in (".yaml", ".yml") else ext.lstrip(".") or "text"
        return Html(f'<pre data-kind="{esc(kind)}">{esc(text)}</pre>')
    return Html('<p class="muted">binary file: no preview</p>')


def _looks_textual(data: bytes) -> bool:
    if b"\x00" in data[:4096]:
        return False
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > 4090  # a multi-byte character cut at the sample's end
    return True


def _csv(data: bytes, delimiter: str) -> Html:
    lines = data.decode("utf-8", errors="replace").splitlines()[: HEAD_ROWS + 1]
    rows = list(csv.reader(lines, delimiter=delimiter))
    if not rows:
        return Html('<p class="muted">empty file</p>')
    return join(
        [
            Html('<div class="scroll">'),
            table(rows[0], rows[1:], empty="no rows"),
            Html(f'</div><p class="muted small">first {len(rows) - 1} rows</p>'),
        ]
    )


def _parquet(data: bytes, cut: bool) -> Html:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return Html('<p class="muted">install pyarrow to preview Parquet files</p>')
    if cut:
        return Html(f'<p class="muted">file larger than {PARQUET_BYTES // (1024 * 1024)} MiB: no preview</p>')
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        batch = next(parquet.iter_batches(batch_size=HEAD_ROWS), None)
    except Exception as exc:  # pyarrow raises several error types for a damaged file
        return Html(f'<p class="error">not a readable Parquet file: {esc(exc)}</p>')
    names = parquet.schema_arrow.names
    rows = [] if batch is None else [list(r.values()) for r in batch.to_pylist()]
    return join(
        [
            Html('<div class="scroll">'),
            table(names, rows, empty="no rows"),
            Html(f'</div><p class="muted small">first {len(rows)} of {parquet.metadata.num_rows} rows</p>'),
        ]
    )
