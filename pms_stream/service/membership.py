"""Group membership: the rebalance listener that hands revocations and assignments to the
runner; for static membership, the member id the group gave this instance, and whether another
live instance took its `group_instance_id`.

The broker hands a static member's id to the newest joiner and answers the old one
UNKNOWN_MEMBER_ID. The runner asks `taken_by_twin` when partitions are revoked: if another live
member holds the id, the two would replace each other at every heartbeat, so the runner ends
with exit 4 instead of rejoining. A membership lost to a session timeout (no other member holds
the id) rejoins as before.

Flow: rebalance -> **listener** -> runner (revoke, assign); **membership** check -> exit 4 or
rejoin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from pms_stream.service.admin import EXIT_FENCED, StartupError
from pms_stream.service.config import Settings, env_name
from pms_stream.service.logs import get_logger

__all__ = ["Listener", "member_id", "taken_by_twin", "twin_error"]

_TWIN_CHECK_S = 5.0  # bound of the group description asked when static membership is lost
log = get_logger("pms_stream.service")


class Rebalanced(Protocol):
    """What the listener hands rebalances to (the runner's `Service`)."""

    async def revoke(self, revoked: list[TopicPartition]) -> None: ...
    async def assign(self, assigned: list[TopicPartition]) -> None: ...
    def listener_failed(self, event: str, exc: Exception) -> None: ...


class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands rebalances to the service; aiokafka logs and drops a listener's exceptions, so
    they are caught here and end the service with the reason instead."""

    def __init__(self, service: Rebalanced) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        try:
            await self.service.revoke(list(revoked))
        except Exception as exc:
            self.service.listener_failed("revoked", exc)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        try:
            await self.service.assign(list(assigned))
        except Exception as exc:
            self.service.listener_failed("assigned", exc)


def member_id(consumer: AIOKafkaConsumer) -> str | None:
    """The member id the group gave the consumer, if it has one (aiokafka has no public id)."""
    coordinator = getattr(consumer, "_coordinator", None)
    member = getattr(coordinator, "member_id", None)
    return member if isinstance(member, str) and member else None


async def taken_by_twin(
    settings: Settings,
    admin_client: AIOKafkaAdminClient,
    consumer: AIOKafkaConsumer,
    known_member: str | None,
) -> bool:
    """Whether this static member lost its membership while another live member holds its
    `group_instance_id`. False when not static, never joined, still a member (an ordinary
    rebalance), or when the group cannot be described."""
    instance = settings.group_instance_id
    coordinator: Any = getattr(consumer, "_coordinator", None)
    lost = coordinator is not None and coordinator.member_id == ""  # UNKNOWN_MEMBER_ID
    if instance is None or known_member is None or not lost:
        return False
    try:
        described = await asyncio.wait_for(
            admin_client.describe_consumer_groups([settings.group_id]), _TWIN_CHECK_S
        )
    except (KafkaError, TimeoutError) as exc:
        log.warning("static membership lost; group not described", error=repr(exc))
        return False
    members = [
        m["member_id"]
        for response in described
        for group in response.to_object()["groups"]
        for m in group["members"]
    ]
    # The broker names a static member "<group_instance_id>-<uuid>".
    return any(m.startswith(instance + "-") and m != known_member for m in members)


async def twin_error(
    settings: Settings,
    admin_client: AIOKafkaAdminClient,
    consumer: AIOKafkaConsumer,
    known_member: str | None,
) -> StartupError | None:
    """The error (exit 4) to end with when another live member took this instance's
    `group_instance_id` (`taken_by_twin`), else None."""
    if not await taken_by_twin(settings, admin_client, consumer, known_member):
        return None
    instance = settings.group_instance_id
    return StartupError(
        f"another live instance uses group_instance_id {instance!r} "
        f"({env_name('group_instance_id')}) and took this instance's place in group "
        f"{settings.group_id!r}; give every instance its own id",
        EXIT_FENCED,
    )
