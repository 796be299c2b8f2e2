"""Resource documents: kubectl-style YAML envelopes, checked before any spec validation."""

from __future__ import annotations

import pytest

from cnai.errors import InvalidArgument
from cnai.resources.documents import load_documents

TWO = """
apiVersion: cnai.io/v1
kind: Deployment
metadata:
  name: wine
  labels: {team: ml}
spec:
  model: models:/wine@champion
---
# a comment-only document in between is skipped
---
apiVersion: cnai.io/v1
kind: Monitor
metadata: {name: wine-drift}
spec: {target: {model: wine}}
"""


def test_several_documents_in_one_file() -> None:
    docs = load_documents(TWO)
    assert [(d.kind, d.name) for d in docs] == [("Deployment", "wine"), ("Monitor", "wine-drift")]
    assert docs[0].labels == {"team": "ml"}
    assert docs[0].spec == {"model": "models:/wine@champion"}


def test_missing_spec_is_an_empty_spec() -> None:
    (doc,) = load_documents("apiVersion: cnai.io/v1\nkind: Monitor\nmetadata: {name: m}\n")
    assert doc.spec == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "No resource documents"),
        ("key: [unclosed", "Not valid YAML"),
        ("- a\n- b\n", "expected a mapping"),
        ("apiVersion: v1\nkind: Deployment\nmetadata: {name: a}\n", "apiVersion must be"),
        ("apiVersion: cnai.io/v1\nmetadata: {name: a}\n", "kind is required"),
        ("apiVersion: cnai.io/v1\nkind: Deployment\n", "metadata with a name"),
        ("apiVersion: cnai.io/v1\nkind: Deployment\nmetadata: {name: Bad_Name}\n", "Invalid metadata.name"),
        ("apiVersion: cnai.io/v1\nkind: Deployment\nmetadata: {name: ../etc}\n", "Invalid metadata.name"),
        ("apiVersion: cnai.io/v1\nkind: Deployment\nmetadata: {name: a}\nspec: [1]\n", "spec must be a mapping"),
        ("apiVersion: cnai.io/v1\nkind: Deployment\nmetadata: {name: a}\nspek: {}\n", "unknown top-level"),
        ("apiVersion: cnai.io/v1\nkind: D\nmetadata: {name: a, labels: {k: 1}}\n", "labels"),
        ("apiVersion: cnai.io/v1\nkind: D\nmetadata: {name: " + "a" * 64 + "}\n", "at most 63"),
    ],
)
def test_bad_documents_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        load_documents(text)


def test_the_second_bad_document_is_named() -> None:
    with pytest.raises(InvalidArgument, match="document 2"):
        load_documents("apiVersion: cnai.io/v1\nkind: A\nmetadata: {name: a}\n---\nkind: B\n")


def test_yaml_tags_that_construct_objects_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="Not valid YAML"):
        load_documents("apiVersion: !!python/object/apply:os.system ['true']\n")
