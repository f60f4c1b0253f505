"""Test-wide set-up: loopback-only networking before any cloud SDK is imported.

Local servers come from unifs's own pytest plugin (``unifs.testing.pytest_plugin``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from unifs.testing import network

# Before any test module imports a cloud SDK: set the no-probe environment and refuse
# every connection outside 127.0.0.1/::1 (EMULATORS.md, Network safety).
network.guard()


@pytest.fixture(autouse=True)
def _no_outbound_connections() -> Iterator[None]:
    """Fail a test that tried to leave the machine, even if an SDK swallowed the error."""
    before = len(network.blocked)
    yield
    attempts = network.blocked[before:]
    assert not attempts, f"test tried to connect outside 127.0.0.1: {attempts}"
