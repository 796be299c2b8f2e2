"""Which partition a record goes to: Kafka's murmur2 for keys, round-robin without one.

Both backends use this, so a key lands in the same partition number in the embedded log and in
Kafka, and the same as in Kafka's Java and librdkafka ``murmur2`` partitioners
(``Utils.toPositive(Utils.murmur2(key)) % numPartitions``): other Kafka producers writing to the
same topic agree with cnai about where a key lives.
"""

from __future__ import annotations

import functools
import itertools
import struct
from collections.abc import Sequence

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 as Kafka's Java client computes it, as an unsigned 32-bit integer."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    # Kafka reads the key as little-endian 32-bit words.
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length % 4
    if tail >= 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


# Keys repeat (the inference log keys every event by its model's name): a cache turns the
# pure-Python hash into a dict lookup on the serving path.
@functools.lru_cache(maxsize=4096)
def partition_for_key(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Partitioner:
    """Stable hash for keyed records; round-robin for records without a key.

    The round-robin counter is per instance (per process), like Kafka clients' own: it spreads
    load, it does not promise any order across partitions.
    """

    def __init__(self) -> None:
        self._next = itertools.count()

    def __call__(self, key: bytes | None, partitions: int) -> int:
        if key is None:
            return next(self._next) % partitions
        return partition_for_key(key, partitions)

    def choose(self, key: bytes | None, all_partitions: Sequence[int], _available: Sequence[int]) -> int:
        """aiokafka's partitioner signature: pick from the sorted list of the topic's partitions."""
        return all_partitions[self(key, len(all_partitions))]
