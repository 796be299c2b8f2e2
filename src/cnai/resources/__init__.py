"""Declarative resources: YAML documents with ``apiVersion``/``kind`` (Deployments, Monitors),
stored as desired state in the control-plane database and converged by controllers.

The package knows nothing about any one kind: each kind's package supplies a validator that
checks and normalises its spec, and an admission function that decides what a caller may ask of
this server (see ``cnai.resources.admission``); the server composes them (``cnai.server.kinds``).
"""

from cnai.resources.admission import SYSTEM, Admission, AdmissionContext
from cnai.resources.controller import Controller
from cnai.resources.documents import API_VERSION, Document, load_documents
from cnai.resources.store import Resource, ResourceStore, SpecValidator

__all__ = [
    "API_VERSION",
    "SYSTEM",
    "Admission",
    "AdmissionContext",
    "Controller",
    "Document",
    "Resource",
    "ResourceStore",
    "SpecValidator",
    "load_documents",
]
