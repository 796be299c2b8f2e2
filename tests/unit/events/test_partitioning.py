"""Partitioning (Kafka's murmur2) and group assignment (round-robin over live members)."""

from __future__ import annotations

import itertools
import random

import pytest

from cnai.events.assignment import assign
from cnai.events.partitioner import Partitioner, murmur2, partition_for_key

# From Kafka's own UtilsTest.testMurmur2 (signed Java ints).
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "signed"), KAFKA_VECTORS.items())
def test_murmur2_matches_kafkas_java_client(key: bytes, signed: int) -> None:
    assert murmur2(key) == signed & 0xFFFFFFFF


def test_murmur2_matches_aiokafka_on_random_keys() -> None:
    aiokafka_partitioner = pytest.importorskip("aiokafka.partitioner")
    rng = random.Random(5)
    for length in range(0, 40):
        key = bytes(rng.randrange(256) for _ in range(length))
        assert murmur2(key) == aiokafka_partitioner.murmur2(key), key


def test_a_key_always_gets_the_same_partition_and_keys_spread() -> None:
    partitioner = Partitioner()
    keys = [f"user-{i}".encode() for i in range(300)]
    first = [partitioner(k, 3) for k in keys]
    assert first == [partitioner(k, 3) for k in keys] == [partition_for_key(k, 3) for k in keys]
    counts = [first.count(p) for p in range(3)]
    assert min(counts) > 60, counts  # a hash, not a constant


def test_records_without_a_key_go_round_robin() -> None:
    partitioner = Partitioner()
    assert [partitioner(None, 3) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert partitioner.choose(None, [0, 1, 2], []) == 1


@pytest.mark.parametrize(("members", "partitions"), list(itertools.product([1, 2, 3, 5], [1, 3, 4, 8])))
def test_assignment_is_disjoint_complete_and_balanced(members: int, partitions: int) -> None:
    ids = [f"m{i}" for i in range(members)]
    result = assign({m: {"t"} for m in ids}, {"t": partitions})
    owned = [set(result[m]) for m in ids]
    assert sum(len(o) for o in owned) == partitions
    assert set().union(*owned) == {("t", p) for p in range(partitions)}
    sizes = [len(o) for o in owned]
    assert max(sizes) - min(sizes) <= 1


def test_every_member_computes_the_same_assignment() -> None:
    members = {"b": {"t", "u"}, "a": {"t"}, "c": {"u"}}
    shuffled = dict(reversed(list(members.items())))
    assert assign(members, {"t": 3, "u": 2}) == assign(shuffled, {"u": 2, "t": 3})


def test_members_get_only_topics_they_subscribe_to() -> None:
    result = assign({"a": {"t"}, "b": {"u"}, "c": {"t", "u"}}, {"t": 4, "u": 2, "other": 5})
    assert all(topic == "t" for topic, _ in result["a"])
    assert all(topic == "u" for topic, _ in result["b"])
    everything = sorted(tp for owned in result.values() for tp in owned)
    assert everything == [("t", 0), ("t", 1), ("t", 2), ("t", 3), ("u", 0), ("u", 1)]


def test_no_members_and_missing_topics() -> None:
    assert assign({}, {"t": 3}) == {}
    assert assign({"a": {"missing"}}, {"t": 3}) == {"a": []}
