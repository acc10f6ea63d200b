"""The local runtime's index is sharded so that the fingerprint function fans out as deployed."""

from __future__ import annotations

from takedown_core.matching import shard_groups
from takedown_local.driver import FAN_OUT_INVOCATIONS, local_shard_count, search_plan


def test_the_local_index_has_two_groups_of_the_configured_shards_per_function():
    for spf in (1, 2, 3):
        shards = local_shard_count(spf)
        assert shards == FAN_OUT_INVOCATIONS * spf
        assert len(shard_groups(shards, spf)) == FAN_OUT_INVOCATIONS >= 2  # more than one answer to merge
    assert local_shard_count(0) is None  # no fan-out configured: the writer's own count


def test_the_search_plan_says_fan_out_only_when_the_function_cannot_hold_every_shard():
    assert "fan-out: 2 shard-function invocations" in search_plan(3, 2)
    assert "fan-out: 4 shard-function invocations" in search_plan(4, 1)
    assert "in the fingerprint function" in search_plan(2, 2)
    assert "in the fingerprint function" in search_plan(5, 0)
