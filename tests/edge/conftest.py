"""Fixtures for the agent runtime and app tests: pooled probe devices on the shared broker, and a recorder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.runtime.harness import AgentFactory, Recorder
from linli.testing import TestBroker


@pytest.fixture
def agents(mqtt_broker: TestBroker, tmp_path: Path) -> Iterator[AgentFactory]:
    """Agents for (up to two) pooled probe devices; stopped after the test."""
    f = AgentFactory(mqtt_broker, tmp_path)
    yield f
    f.close()


@pytest.fixture
def recorder(mqtt_broker: TestBroker, agents: AgentFactory) -> Iterator[Recorder]:
    """Records everything under the test site, with the server's account (subscribed after the devices'
    retained topics were cleared)."""
    with Recorder(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server, ["linli/v1/t-site/#"]) as r:
        yield r
