"""Artifact previews over a real local artifact store: what each kind of file shows, escaped."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cnai.artifacts.local import LocalArtifactStore
from cnai.errors import InvalidArgument, NotFound
from cnai.ui import artifact_browser
from cnai.ui.components import json_script

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[LocalArtifactStore, artifact_browser.Tree]:
    store = LocalArtifactStore(tmp_path)
    root = "1/abc/artifacts"
    store.write_bytes(f"{root}/model/MLmodel", b"flavors:\n  sklearn:\n    pickled_model: model.pkl\n")
    store.write_bytes(f"{root}/metrics.json", json.dumps({"a": 1, "name": SCRIPT}).encode())
    store.write_bytes(f"{root}/data/head.csv", b"x,y\n" + b"".join(f"{i},{SCRIPT}\n".encode() for i in range(50)))
    store.write_bytes(f"{root}/blob.bin", bytes(range(256)) * 4)
    store.write_bytes(f"{root}/plot.png", b"\x89PNG\r\n\x1a\n")
    out = io.BytesIO()
    pq.write_table(pa.table({"alcohol": [12.5, 13.1, 14.2], "label": ["a", "b", SCRIPT]}), out)
    store.write_bytes(f"{root}/data/frame.parquet", out.getvalue())
    tree = artifact_browser.tree_of(f"mlflow-artifacts:/{root}", "/ui/runs/abc/artifacts")
    assert tree is not None
    return store, tree


def test_listing_shows_folders_first_with_browser_links(tree: tuple[LocalArtifactStore, artifact_browser.Tree]) -> None:
    store, t = tree
    html = artifact_browser.listing(store, t)
    assert html.index("data/") < html.index("blob.bin")
    assert 'href="/ui/runs/abc/artifacts?path=model"' in html
    assert 'href="/ui/runs/abc/artifacts?file=metrics.json"' in html
    inner = artifact_browser.listing(store, t, "data")
    assert 'href="/ui/runs/abc/artifacts"' in inner  # ../ goes back to the root
    assert "head.csv" in inner


def test_mlmodel_and_json_are_shown_as_text(tree: tuple[LocalArtifactStore, artifact_browser.Tree]) -> None:
    store, t = tree
    assert 'data-kind="yaml"' in artifact_browser.preview(store, t, "model/MLmodel")
    shown = artifact_browser.preview(store, t, "metrics.json")
    assert "&quot;a&quot;: 1,\n  &quot;name&quot;" in shown  # pretty-printed, escaped
    assert SCRIPT not in shown


def test_csv_and_parquet_heads_are_tables(tree: tuple[LocalArtifactStore, artifact_browser.Tree]) -> None:
    store, t = tree
    csv_html = artifact_browser.preview(store, t, "data/head.csv")
    assert csv_html.count("<tr>") == 1 + artifact_browser.HEAD_ROWS
    assert SCRIPT not in csv_html
    parquet = artifact_browser.preview(store, t, "data/frame.parquet")
    assert "<th>alcohol</th>" in parquet
    assert "13.1" in parquet
    assert "first 3 of 3 rows" in parquet
    assert SCRIPT not in parquet


def test_images_binaries_and_bad_paths(tree: tuple[LocalArtifactStore, artifact_browser.Tree]) -> None:
    store, t = tree
    assert '<img src="/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/plot.png"' in artifact_browser.preview(
        store, t, "plot.png"
    )
    assert "no preview" in artifact_browser.preview(store, t, "blob.bin")
    with pytest.raises(InvalidArgument):
        artifact_browser.preview(store, t, "../../etc/passwd")
    with pytest.raises(NotFound):
        artifact_browser.preview(store, t, "missing.txt")


def test_json_in_a_script_element_cannot_close_it() -> None:
    html = json_script("data", {"name": "</script><script>alert(1)</script>", "amp": "&"})
    assert html.count("</script>") == 1
    body = html[html.index(">") + 1 : html.rindex("<")]
    assert json.loads(body)["name"] == "</script><script>alert(1)</script>"
