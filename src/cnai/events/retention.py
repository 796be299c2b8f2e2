"""Retention of the embedded log: Kafka's ``retention.ms`` and ``retention.bytes``, per log file.

Old records are deleted whether or not any consumer group has read them, as in Kafka: the log is
bounded, a slow or dead consumer is not. A group whose committed offset falls below the log start
continues from the earliest record left, and the consumer reports how many it skipped.

Enforcement is off the hot path: the bus runs passes from a background task, every
``check_interval_ms`` and early when this process has appended a sixteenth of ``retention_bytes``.
Each step of a pass is one short write transaction (a bounded batch of deletes, or a bounded
incremental vacuum), so producers in this and other processes get the write lock between steps.
Every process that opens the file enforces its own policy. Each step decides what to delete
inside its own transaction, from the log as it is then, so several processes trimming at once
only ever remove the oldest records, each once. Give every process sharing a file the same
values: where they differ, the strictest one prevails.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnai.errors import InvalidArgument

DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000  # Kafka's default retention.ms (log.retention.hours=168)
DEFAULT_RETENTION_BYTES = 1024**3  # 1 GiB per log file; Kafka's default is unbounded, a laptop's disk is not
DEFAULT_CHECK_INTERVAL_MS = 60_000
UNLIMITED = -1  # Kafka's spelling of "no limit", for either bound
MIN_RETENTION_BYTES = 64 * 1024  # below this the empty schema alone would be over the bound

# Bounds on one step (one write transaction): a few milliseconds of lock each.
BATCH_ROWS = 2_000
VACUUM_PAGES = 1_024
# Free pages kept for the next appends rather than handed back and regrown at once.
MAX_SLACK_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RetentionPolicy:
    """How much of the log to keep. ``UNLIMITED`` (-1) turns a bound off."""

    retention_ms: int = DEFAULT_RETENTION_MS
    retention_bytes: int = DEFAULT_RETENTION_BYTES
    check_interval_ms: int = DEFAULT_CHECK_INTERVAL_MS

    def __post_init__(self) -> None:
        if self.retention_ms != UNLIMITED and self.retention_ms < 1:
            raise InvalidArgument(f"retention must be positive, or -1 for unlimited; got {self.retention_ms} ms")
        if self.retention_bytes != UNLIMITED and self.retention_bytes < MIN_RETENTION_BYTES:
            raise InvalidArgument(
                f"retention_bytes must be at least {MIN_RETENTION_BYTES}, or -1 for unlimited; "
                f"got {self.retention_bytes}"
            )
        if self.check_interval_ms < 1:
            raise InvalidArgument(f"retention_check_ms must be positive, got {self.check_interval_ms}")

    @property
    def max_bytes(self) -> int | None:
        return None if self.retention_bytes == UNLIMITED else self.retention_bytes

    def cutoff_ms(self, now_ms: int) -> int | None:
        """Records stamped before this are expired; None when age is unbounded."""
        return None if self.retention_ms == UNLIMITED else now_ms - self.retention_ms

    @property
    def slack_bytes(self) -> int:
        """Free pages kept in the file: an eighth of the bound, at most 64 MiB."""
        if self.max_bytes is None:
            return MAX_SLACK_BYTES
        return min(self.max_bytes // 8, MAX_SLACK_BYTES)

    @property
    def early_check_bytes(self) -> int | None:
        """Appended bytes after which this process checks early instead of waiting for the interval."""
        return None if self.max_bytes is None else max(self.max_bytes // 16, 1)


def hours_to_ms(hours: float) -> int:
    """``retention_hours`` from a bus URL in milliseconds; -1 stays -1 (unlimited)."""
    if hours == UNLIMITED:
        return UNLIMITED
    if not hours > 0:  # also rejects NaN
        raise InvalidArgument(f"retention_hours must be positive, or -1 for unlimited; got {hours}")
    return max(1, round(hours * 3_600_000))


@dataclass
class RetentionStats:
    """What retention did in this process; read by tests and metrics, written on the bus's worker thread."""

    records_deleted: int = 0  # by this process's passes
    pages_freed: int = 0
    records_skipped: int = 0  # committed or in-flight positions that fell below the log start
