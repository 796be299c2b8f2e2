"""Monitors: ``kind: Monitor`` specs, and the controller that judges inference events window by
window (drift, data quality, live performance) and acts once per incident (consecutive breaching
windows), within what the server allows (``admission``)."""

from cnai.monitoring.monitor.admission import admit_monitor
from cnai.monitoring.monitor.controller import DEFAULT_GROUP, MonitorController
from cnai.monitoring.monitor.reference import ArtifactReferenceLoader, load_file_reference
from cnai.monitoring.monitor.spec import (
    ALERT_EVENT_TYPE,
    ALERT_TOPIC,
    KIND,
    MonitorSpec,
    parse_monitor_spec,
    validate_monitor_spec,
)
from cnai.monitoring.monitor.store import MonitorStore

__all__ = [
    "ALERT_EVENT_TYPE",
    "ALERT_TOPIC",
    "DEFAULT_GROUP",
    "KIND",
    "ArtifactReferenceLoader",
    "MonitorController",
    "MonitorSpec",
    "MonitorStore",
    "admit_monitor",
    "load_file_reference",
    "parse_monitor_spec",
    "validate_monitor_spec",
]
