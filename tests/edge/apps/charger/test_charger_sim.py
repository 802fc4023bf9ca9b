"""``linli agent --sim`` for a pile: the simulator links the configured serial paths to its ptys (as udev links
/dev/serial/by-id/…) after the agent has started, and residents plug in and pay by card or coin."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from edge.apps.charger.sim import link_device, start_sim
from edge.runtime.agent import Agent
from edge.runtime.config import load_config
from edge.runtime.harness import AgentFactory, Recorder
from linli.merge import deep_merge
from linli.testing import wait_for

from .conftest import APP, HAL


def test_sim_links_paths_and_residents_charge(factory: AgentFactory, recorder: Recorder, tmp_path: Path) -> None:
    hal = deep_merge(HAL, {})
    hal["serial"] = {n: {**c, "url": str(tmp_path / "dev" / n)} for n, c in hal["serial"].items()}
    ref, path = factory.config(hal=hal, app=deep_merge(APP, {"poll_interval_s": 0.1}))
    agent = Agent(load_config(path))
    factory.agents.append(agent)
    agent.start()  # the serial paths do not exist yet: the agent keeps trying
    stop = threading.Event()
    try:
        start_sim(agent, stop, every_s=0.3)
        wait_for(lambda: agent.app.pile.mcu_ok, 10, what="MCU reached through the linked path")
        assert (tmp_path / "dev" / "mcu").is_symlink()
        got = recorder.wait(lambda: recorder.events(ref, "charger.session_started"), 20, what="a resident's session")
        assert got[0].data["source"] in ("card", "coin")
    finally:
        stop.set()


def test_link_device_never_replaces_a_real_file(tmp_path: Path) -> None:
    real = tmp_path / "ttyUSB0"
    real.write_text("not a pty")
    with pytest.raises(RuntimeError, match="real device or file"):
        link_device(str(real), "/dev/null")
    link_device(str(tmp_path / "by-id" / "pile"), "/dev/null")
    assert (tmp_path / "by-id" / "pile").resolve() == Path("/dev/null")
    link_device(str(tmp_path / "by-id" / "pile"), "/dev/zero")  # a stale link from an earlier run is replaced
    assert (tmp_path / "by-id" / "pile").resolve() == Path("/dev/zero")


