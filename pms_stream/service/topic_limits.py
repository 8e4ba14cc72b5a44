"""The largest record each output topic takes, read from the broker: what `outputs.fit` holds
every output to before it is sent (an output over its topic's limit becomes a dead letter).

A topic's limit is its `max.message.bytes` (the broker's `message.max.bytes` when the topic
cannot be described), capped by what the producers send (`max_request_size`) and, for outputs
other than dead letters, by `max_statement_bytes`. Read at start and whenever a topic may have
changed (recreated, a size error); kept as they were when the broker cannot be asked. At start
`max_open_keys` is also checked against the broker's `offset.metadata.max.bytes` (exit 2).

Flow: config -> admin (checks, topics) -> **topic limits** -> publisher (`outputs.fit`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from pms_stream.service.admin import EXIT_CONFIG, StartupError
from pms_stream.service.config import Settings
from pms_stream.stream.outputs import RECORD_OVERHEAD, Sink
from pms_stream.stream.partition_task import OFFSET_METADATA_MAX, max_open_keys_for

__all__ = ["BrokerLimits", "check_open_keys", "describe", "sink_limits"]


@dataclass(frozen=True, slots=True)
class BrokerLimits:
    """What the broker said: each topic's `max.message.bytes`, its own `message.max.bytes`
    and `offset.metadata.max.bytes`."""

    topics: Mapping[str, int]
    message_max: int | None
    metadata_max: int = OFFSET_METADATA_MAX


async def describe(admin: AIOKafkaAdminClient, topics: Mapping[Sink, str]) -> BrokerLimits:
    """Ask the broker for the limits of `topics` (raises KafkaError, TimeoutError, ValueError)."""
    found: dict[str, int] = {}
    broker: int | None = None
    metadata_max = OFFSET_METADATA_MAX
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, t, {"max.message.bytes": None})
        for t in sorted(set(topics.values()))
    ]
    node = next(iter(admin._client.cluster.brokers()), None)
    if node is not None:
        resources.append(
            ConfigResource(
                ConfigResourceType.BROKER,
                str(node.nodeId),
                {"message.max.bytes": None, "offset.metadata.max.bytes": None},
            )
        )
    for response in await admin.describe_configs(resources):
        for res in response.to_object()["resources"]:
            if res["error_code"]:
                continue
            for entry in res["config_entries"]:
                value = entry["config_value"]
                if value is None:
                    continue
                if entry["config_names"] == "max.message.bytes":
                    found[res["resource_name"]] = int(value)
                elif entry["config_names"] == "message.max.bytes":
                    broker = int(value)
                elif entry["config_names"] == "offset.metadata.max.bytes":
                    metadata_max = int(value)
    return BrokerLimits(found, broker, metadata_max)


def check_open_keys(settings: Settings, metadata_max: int) -> None:
    """`max_open_keys` must fit the broker's `offset.metadata.max.bytes` (else exit 2)."""
    keys_limit = max_open_keys_for(metadata_max)
    if settings.max_open_keys > keys_limit:
        raise StartupError(
            f"max_open_keys (PMS_MAX_OPEN_KEYS) is {settings.max_open_keys}; this "
            f"broker's offset.metadata.max.bytes ({metadata_max}) allows at most {keys_limit}",
            EXIT_CONFIG,
        )


def sink_limits(
    settings: Settings, topics: Mapping[Sink, str], broker: BrokerLimits, max_request: int
) -> dict[Sink, int]:
    """The largest record each sink's topic takes (see the module's docstring)."""
    statement_cap = settings.max_statement_bytes + RECORD_OVERHEAD + 1024
    limits: dict[Sink, int] = {}
    for sink, topic in topics.items():
        limit = min(broker.topics.get(topic, broker.message_max or max_request), max_request)
        if sink is not Sink.REJECTS:
            limit = min(limit, statement_cap)
        limits[sink] = limit
    return limits
