"""Starting a consumer group at the topics' current ends, so a test's consumer reads only that
test's events, not every earlier run's (a group with no offsets starts at the earliest)."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaException, TopicPartition


def start_at_the_end(bootstrap: str, group: str, topics: Iterable[str]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        offsets = []
        for topic in topics:
            found = consumer.list_topics(topic, timeout=20).topics[topic]
            if found.error is not None:
                continue  # not created yet: nothing earlier to skip
            for partition in found.partitions:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=15
                )
                offsets.append(TopicPartition(topic, partition, high))
        if offsets:
            consumer.commit(offsets=offsets, asynchronous=False)
    except KafkaException:
        pass  # a topic not there yet: the group starts from its beginning, as it should
    finally:
        consumer.close()


def caught_up(bootstrap: str, group: str, topics: Iterable[str]) -> bool:
    """Whether ``group`` has committed every partition of ``topics`` up to its end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        for topic in topics:
            found = consumer.list_topics(topic, timeout=20).topics[topic]
            partitions = [TopicPartition(topic, p) for p in found.partitions]
            committed = consumer.committed(partitions, timeout=15)
            for tp in committed:
                _, high = consumer.get_watermark_offsets(tp, timeout=15)
                if high > 0 and tp.offset < high:
                    return False
        return True
    finally:
        consumer.close()
