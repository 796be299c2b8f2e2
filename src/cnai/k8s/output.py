"""Manifests as YAML files: one multi-document file per spec document, in a stable order."""

from __future__ import annotations

from pathlib import Path

import yaml

from cnai import __version__
from cnai.k8s.model import Manifest
from cnai.k8s.render import Rendered

HEADER = "# Rendered by cnai {version} (cnai k8s render) from {kind} {name}; edit the spec, not this file.\n"


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no types here
    """No anchors and aliases (a label dict shared by two fields stays two plain copies), and
    multi-line strings (a spec in a ConfigMap) as literal blocks."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_manifests(manifests: list[Manifest]) -> str:
    # sort_keys=False: apiVersion, kind, metadata, spec read in the order people expect.
    return "---\n".join(yaml.dump(m, Dumper=_Dumper, sort_keys=False, default_flow_style=False) for m in manifests)


def to_text(rendered: Rendered) -> str:
    return HEADER.format(version=__version__, kind=rendered.kind, name=rendered.name) + dump_manifests(
        rendered.manifests
    )


def write_all(rendered: list[Rendered], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for item in rendered:
        path = out_dir / item.filename
        path.write_text(to_text(item))
        written.append(path)
    return written
