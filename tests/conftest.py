"""Fixtures shared by the test tiers.

Kept deliberately small: each tier's own fixtures live beside its tests. Nothing here is
autouse, so a tier that needs the network (the workflow tier's moto server, the browser
tests) is not affected; the unit and contract tests opt in to ``no_network``.
"""

from __future__ import annotations

import socket

import pytest


class NetworkBlocked(RuntimeError):
    """A unit test tried to open a connection (a stray AWS or HTTP call)."""


@pytest.fixture
def no_network(monkeypatch):
    """Fail loudly on any outbound connection for the duration of one test.

    moto's in-process ``mock_aws`` patches botocore and opens no socket, so the contract tests
    can use this too.
    """

    def refuse(*args, **kwargs):
        raise NetworkBlocked(f"network access in a unit test: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield
