"""Declarative resources: YAML documents with ``apiVersion``/``kind`` (Deployments, Monitors),
stored as desired state in the control-plane database and converged by controllers.

The package knows nothing about any one kind: each kind's package supplies a validator that
checks and normalises its spec, and the server composes them (see ``cnai.server.app``).
"""

from cnai.resources.controller import Controller
from cnai.resources.documents import API_VERSION, Document, load_documents
from cnai.resources.store import Resource, ResourceStore, SpecValidator

__all__ = ["API_VERSION", "Controller", "Document", "Resource", "ResourceStore", "SpecValidator", "load_documents"]
