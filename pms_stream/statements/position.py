"""Where a statement version sits in the statements topic, and the stores' order guard.

The stores (reroute, query) hear of a statement version twice over: from this instance's own
publisher once its transaction commits (`service.store_feed.OwnStatements`), and from the feed
that tails the statements topic (statements of other instances, and of this instance's earlier
processes). The two can arrive out of order: a lagging feed may bring, after this instance
published a newer version of a key, an older version another instance wrote before it. A key
always lands on the same partition of the statements topic, whose offsets order its versions
exactly as compaction does; so a version is stored only when it is newer than the one held.

Pure. Flow: publisher / feed -> **position** (guard) -> stores.
"""

from __future__ import annotations

__all__ = ["Position", "not_newer"]

Position = tuple[int, int]  # (statements topic partition, offset)


def not_newer(at: Position | None, held: Position | None) -> bool:
    """Whether the version at `at` must not replace the one held at `held`: both known, on the
    same partition, and `at` not after it. Unknown positions (tests, tools) or different
    partitions (the topic's partitions changed) leave the newest arrival in place."""
    return at is not None and held is not None and at[0] == held[0] and at[1] <= held[1]
