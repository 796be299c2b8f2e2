"""How a consumer group splits partitions among its live members (pure, deterministic).

Kafka's round-robin assignor, computed independently by every member of the embedded log: there
is no group leader, so each member must reach the same answer from the same table of members.
Members are sorted by id and partitions by (topic, partition); partitions are dealt to the members
in turn, skipping a member that does not subscribe to the partition's topic.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

TopicPartition = tuple[str, int]


def assign(members: Mapping[str, Collection[str]], partitions: Mapping[str, int]) -> dict[str, list[TopicPartition]]:
    """``{member_id: [(topic, partition), ...]}`` for every member (possibly an empty list).

    ``members`` maps each live member to the topics it subscribes to; ``partitions`` maps each
    existing topic to its partition count (topics missing from it are not assigned yet).
    """
    order: Sequence[str] = sorted(members)
    result: dict[str, list[TopicPartition]] = {m: [] for m in order}
    if not order:
        return result
    turn = 0
    for topic in sorted(partitions):
        if not any(topic in members[m] for m in order):
            continue
        for partition in range(partitions[topic]):
            # Find the next member in turn that subscribes to this topic; one exists (checked above).
            while topic not in members[order[turn % len(order)]]:
                turn += 1
            result[order[turn % len(order)]].append((topic, partition))
            turn += 1
    return result
