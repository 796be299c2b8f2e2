"""The event-bus interface: Kafka's model, small enough for two backends to implement fully.

A topic has N partitions; a record's key picks its partition with a stable hash, so records with
one key stay in order. Consumers join a *group*; the group's partitions are split among its live
members, and each group keeps a committed offset per (topic, partition). Delivery is
at-least-once: ``commit()`` records what ``poll()`` returned, and a consumer that stops before
committing leaves those records to be delivered again to whoever owns the partition next.

Backends: ``cnai.events.embedded`` (one SQLite file) and ``cnai.events.kafka`` (aiokafka).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from cnai.errors import InvalidArgument

# Kafka's own rule for topic names (Topic.java): legal characters and the 249-character limit.
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
MAX_PARTITIONS = 1024  # far above any use here; bounds what a typo can allocate


@dataclass(frozen=True, slots=True)
class Record:
    """One event as stored: where it sits in the log and what it carries."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()


class Consumer(ABC):
    """A member of a consumer group. Use from one task at a time; ``async with`` starts and closes it."""

    @abstractmethod
    async def start(self) -> None:
        """Join the group (partitions are assigned on the first polls)."""

    @abstractmethod
    async def close(self) -> None:
        """Leave the group *without* committing: uncommitted records go to the next owner."""

    @abstractmethod
    async def poll(self, max_records: int = 500, timeout_ms: int = 1000) -> list[Record]:
        """Up to ``max_records`` records from this member's partitions, waiting up to ``timeout_ms``.

        Records of one partition come in offset order. An empty list means nothing arrived in time.
        """

    @abstractmethod
    async def commit(self) -> None:
        """Commit the offsets of everything ``poll()`` returned so far.

        Offsets of partitions this member no longer owns (the group rebalanced meanwhile) are not
        committed: their new owner reads those records again, which at-least-once allows.
        """

    @abstractmethod
    def assignment(self) -> frozenset[tuple[str, int]]:
        """The (topic, partition) pairs this member owned at its last poll (empty before one)."""

    async def __aenter__(self) -> Consumer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class Bus(ABC):
    """A connection to the event log: one per process, safe to share between tasks."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def create_topic(self, topic: str, partitions: int = 3) -> None:
        """Create ``topic``; does nothing when it exists (its partition count is left as it is)."""

    @abstractmethod
    async def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Append one record; it is stored (acknowledged) when this returns."""

    @abstractmethod
    async def produce_many(self, topic: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Append ``(key, value)`` pairs in one round trip (one transaction in the embedded log)."""

    @abstractmethod
    def consumer(self, topics: Sequence[str], group: str, *, from_beginning: bool = True) -> Consumer:
        """A new member of ``group`` reading ``topics``.

        ``from_beginning`` applies only where the group has no committed offset yet: start at the
        oldest record (True) or only see records produced after joining (False).
        """

    async def __aenter__(self) -> Bus:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def check_topic(topic: str) -> str:
    """``topic`` if it is a legal Kafka topic name, else InvalidArgument."""
    if not isinstance(topic, str) or not _TOPIC_NAME.fullmatch(topic) or topic in {".", ".."}:
        raise InvalidArgument(f"Invalid topic name {topic!r}: use 1-249 characters from a-z, A-Z, 0-9, '.', '_', '-'")
    return topic


def check_partitions(partitions: int) -> int:
    if isinstance(partitions, bool) or not isinstance(partitions, int) or not 1 <= partitions <= MAX_PARTITIONS:
        raise InvalidArgument(f"partitions must be an integer from 1 to {MAX_PARTITIONS}, got {partitions!r}")
    return partitions


def check_group(group: str) -> str:
    if not isinstance(group, str) or not group or len(group) > 255:
        raise InvalidArgument(f"Invalid consumer group {group!r}: a non-empty string of at most 255 characters")
    return group


def check_topics(topics: Sequence[str]) -> tuple[str, ...]:
    if isinstance(topics, str):  # a bare string would be read as a list of one-letter topics
        raise InvalidArgument("topics must be a list of topic names, not a string")
    checked = tuple(dict.fromkeys(check_topic(t) for t in topics))
    if not checked:
        raise InvalidArgument("A consumer needs at least one topic")
    return checked


def check_value(value: bytes, key: bytes | None) -> None:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidArgument(f"An event value must be bytes, got {type(value).__name__}")
    if key is not None and not isinstance(key, bytes | bytearray | memoryview):
        raise InvalidArgument(f"An event key must be bytes or None, got {type(key).__name__}")


def check_headers(headers: Sequence[tuple[str, bytes]]) -> tuple[tuple[str, bytes], ...]:
    out = []
    for item in headers:
        if (
            not isinstance(item, tuple | list)
            or len(item) != 2
            or not isinstance(item[0], str)
            or not isinstance(item[1], bytes | bytearray)
        ):
            raise InvalidArgument(f"A header must be a (str, bytes) pair, got {item!r}")
        out.append((item[0], bytes(item[1])))
    return tuple(out)


def check_poll_args(max_records: int, timeout_ms: int) -> None:
    if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
        raise InvalidArgument(f"max_records must be a positive integer, got {max_records!r}")
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms < 0:
        raise InvalidArgument(f"timeout_ms must be a non-negative integer, got {timeout_ms!r}")
