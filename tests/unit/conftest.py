"""The unit tier runs with the network off: a stray AWS or HTTP call fails loudly."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _unit_tier_has_no_network(no_network):
    yield
