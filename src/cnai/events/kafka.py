"""The Kafka backend (the ``[kafka]`` extra): aiokafka's producer, admin client and group consumer.

Only this module imports aiokafka, so ``pip install cnai`` works without it.

- The producer keeps aiokafka's defaults (acks=1, no idempotence): at-least-once needs no more,
  and some Kafka-protocol brokers (Tansu, used in the tests) refuse idempotent producers.
- Partitions are chosen by ``cnai.events.partitioner`` (murmur2 as in Kafka's Java client,
  round-robin without a key), the same rule as the embedded log.
- Consumers never auto-commit: ``commit()`` commits exactly what ``poll()`` returned, and only for
  partitions still assigned, so a rebalance leads to redelivery rather than to a lost record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaConnectionError, KafkaError, for_code

from cnai.errors import InvalidArgument, InvalidState, Unavailable
from cnai.events.base import (
    Bus,
    Consumer,
    Record,
    check_group,
    check_headers,
    check_partitions,
    check_poll_args,
    check_topic,
    check_topics,
    check_value,
)
from cnai.events.partitioner import Partitioner

logger = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code


class KafkaBus(Bus):
    """A ``Bus`` on a Kafka cluster (or any Kafka-protocol broker).

    ``bootstrap_servers``: ``"host:port[,host:port]"``. The group timeouts are passed to each
    consumer: a short ``session_timeout_ms`` lets a group notice a dead member (and rebalance)
    sooner, at the price of more heartbeats.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "cnai",
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        rebalance_timeout_ms: int | None = None,
        request_timeout_ms: int = 40_000,
    ) -> None:
        if not bootstrap_servers:
            raise InvalidArgument("Kafka bootstrap servers are required, e.g. 'host:9092'")
        if min(session_timeout_ms, heartbeat_interval_ms, request_timeout_ms) < 1:
            raise InvalidArgument("Kafka timeouts must be positive")
        self.bootstrap_servers = bootstrap_servers
        self.client_id = client_id
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.rebalance_timeout_ms = rebalance_timeout_ms or session_timeout_ms
        self.request_timeout_ms = request_timeout_ms
        self._partitioner = Partitioner()
        self._producer: AIOKafkaProducer | None = None
        self._start_lock = asyncio.Lock()
        self._consumers: set[KafkaConsumer] = set()  # closed with the bus unless closed before

    async def start(self) -> None:
        async with self._start_lock:
            if self._producer is not None:
                return
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers,
                client_id=self.client_id,
                partitioner=self._partitioner.choose,
                request_timeout_ms=self.request_timeout_ms,
            )
            try:
                await producer.start()
            except KafkaError as exc:
                await producer.stop()
                raise Unavailable(f"Kafka at {self.bootstrap_servers} is unavailable: {exc}") from exc
            self._producer = producer

    async def close(self) -> None:
        for consumer in list(self._consumers):
            await consumer.close()
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()  # flushes what is still buffered

    async def create_topic(self, topic: str, partitions: int = 3) -> None:
        check_topic(topic)
        check_partitions(partitions)
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            request_timeout_ms=self.request_timeout_ms,
        )
        try:
            await admin.start()
            response = await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        except KafkaConnectionError as exc:
            raise Unavailable(f"Kafka at {self.bootstrap_servers} is unavailable: {exc}") from exc
        finally:
            await admin.close()
        for result in response.topic_errors:
            code = result[1]
            if code not in (0, _TOPIC_ALREADY_EXISTS):  # already there: create_topic is idempotent
                raise for_code(code)(f"creating topic {topic!r}: {result[2] if len(result) > 2 else ''}")

    async def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        check_topic(topic)
        check_value(value, key)
        checked = list(check_headers(headers)) or None
        try:
            await self.producer.send_and_wait(topic, bytes(value), key=_bytes(key), headers=checked)
        except KafkaConnectionError as exc:
            raise Unavailable(f"Kafka at {self.bootstrap_servers} is unavailable: {exc}") from exc

    async def produce_many(self, topic: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        check_topic(topic)
        pairs = []
        for item in items:
            if not isinstance(item, tuple | list) or len(item) != 2:
                raise InvalidArgument(f"produce_many takes (key, value) pairs, got {item!r}")
            check_value(item[1], item[0])
            pairs.append((_bytes(item[0]), bytes(item[1])))
        producer = self.producer
        try:
            # send() only appends to the producer's per-partition batches; awaiting all the
            # delivery futures afterwards lets them go out together rather than one per round trip.
            futures = [await producer.send(topic, value, key=key) for key, value in pairs]
            await asyncio.gather(*futures)
        except KafkaConnectionError as exc:
            raise Unavailable(f"Kafka at {self.bootstrap_servers} is unavailable: {exc}") from exc

    def consumer(self, topics: Sequence[str], group: str, *, from_beginning: bool = True) -> KafkaConsumer:
        consumer = KafkaConsumer(self, check_topics(topics), check_group(group), from_beginning)
        self._consumers.add(consumer)
        return consumer

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise InvalidState("The event bus is not started: call start() first")
        return self._producer


class KafkaConsumer(Consumer):
    """A member of a Kafka consumer group (aiokafka's group coordinator protocol)."""

    def __init__(self, bus: KafkaBus, topics: tuple[str, ...], group: str, from_beginning: bool) -> None:
        self._bus = bus
        self._topics = topics
        self._group = group
        self._from_beginning = from_beginning
        self._consumer: AIOKafkaConsumer | None = None
        self._consumed: dict[TopicPartition, int] = {}  # next offset after what poll returned
        self._positioned: set[TopicPartition] = set()  # assigned partitions whose start is resolved

    async def start(self) -> None:
        if self._consumer is not None:
            return
        bus = self._bus
        consumer = AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=bus.bootstrap_servers,
            client_id=bus.client_id,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if self._from_beginning else "latest",
            session_timeout_ms=bus.session_timeout_ms,
            heartbeat_interval_ms=bus.heartbeat_interval_ms,
            rebalance_timeout_ms=bus.rebalance_timeout_ms,
            request_timeout_ms=bus.request_timeout_ms,
        )
        try:
            await consumer.start()
        except KafkaError as exc:
            await consumer.stop()
            raise Unavailable(f"Kafka at {bus.bootstrap_servers} is unavailable: {exc}") from exc
        self._consumer = consumer
        await self._fix_new_positions(consumer)  # start() often returns already assigned

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        self._consumed.clear()
        self._positioned.clear()
        self._bus._consumers.discard(self)
        if consumer is not None:
            _leave_group_from_generation_zero(consumer)
            await consumer.stop()  # leaves the group; nothing is committed (auto-commit is off)

    async def poll(self, max_records: int = 500, timeout_ms: int = 1000) -> list[Record]:
        check_poll_args(max_records, timeout_ms)
        consumer = self._started()
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        records: list[Record] = []
        for tp, messages in batches.items():
            if not messages:
                continue
            records.extend(_record(m) for m in messages)
            self._consumed[tp] = messages[-1].offset + 1
        await self._fix_new_positions(consumer)
        return records

    async def _fix_new_positions(self, consumer: AIOKafkaConsumer) -> None:
        """Resolve where newly assigned partitions start before ``poll`` returns.

        aiokafka looks up a partition's start (the committed offset, or earliest/latest) lazily,
        some time after the assignment, so a "latest" consumer would skip records produced in
        between. Resolving it here gives both backends one rule: once ``assignment()`` lists a
        partition, its starting position is fixed, and with ``from_beginning=False`` every record
        produced after that is delivered.
        """
        assigned = consumer.assignment()
        for tp in assigned - self._positioned:
            try:
                await consumer.position(tp)
            except IllegalStateError:  # revoked again meanwhile: the next poll sees the new assignment
                return
        self._positioned = set(assigned)

    async def commit(self) -> None:
        consumer = self._started()
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in self._consumed.items() if tp in assigned}
        self._consumed.clear()
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced between poll and commit: the partitions' new owners read the
            # records again from the last committed offset. That is at-least-once, not an error.
            logger.info(
                "group %s: commit skipped after a rebalance (%s); records will be redelivered", self._group, exc
            )

    def assignment(self) -> frozenset[tuple[str, int]]:
        if self._consumer is None:
            return frozenset()
        # Only partitions whose start is resolved: a rebalance in the background may have assigned
        # others that the next poll will position.
        owned = self._consumer.assignment() & self._positioned
        return frozenset((tp.topic, tp.partition) for tp in owned)

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise InvalidState("The consumer is not started: call start() first")
        return self._consumer


def _leave_group_from_generation_zero(consumer: AIOKafkaConsumer) -> None:
    """Make aiokafka send LeaveGroup even when the broker numbered our generation 0.

    Kafka numbers a group's first generation 1, and aiokafka takes generation 0 to mean "never
    joined", so it skips LeaveGroup on stop. Some Kafka-protocol brokers (Tansu 0.6) start at 0:
    the group then waits a whole session timeout for the departed member, and the next member's
    join stalls for seconds. LeaveGroup carries only the group and member id, so presenting any
    positive generation is harmless; the private attribute is touched only when it looks as
    expected, and on a broker that starts at 1 nothing happens at all.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is not None and getattr(coordinator, "generation", None) == 0 and coordinator.member_id:
        coordinator.generation = 1


def _record(message: Any) -> Record:
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        timestamp_ms=message.timestamp,
        headers=tuple((name, bytes(value)) for name, value in message.headers or ()),
    )


def _bytes(key: bytes | None) -> bytes | None:
    return None if key is None else bytes(key)
