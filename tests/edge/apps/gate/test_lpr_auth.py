"""The LPR push opens the barrier, so it is authenticated: only from the configured camera addresses (an open
allow-list is a config error unless asked for), with the shared secret when one is set (URL token, header or HTTP
Basic), on the configured interface only. Refused pushes never pulse a relay."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from edge.apps.gate.config import GateConfig, LprConfig
from edge.apps.gate.sim import CarSim, LprCameraSim, lane_pins
from edge.hal.sim import PinBoard
from edge.runtime.harness import AgentFactory

from .conftest import HAL, gate_app


def _car_in(agent: Any) -> CarSim:
    return CarSim(PinBoard(), lane_pins(agent.cfg.hal, agent.app.cfg, "in"))


def test_open_allow_list_is_a_config_error_unless_asked_for() -> None:
    doc = gate_app()
    doc["lpr"] = {"port": 0}
    with pytest.raises(ValidationError, match=r"lpr\.allow_from.*allow_any"):
        GateConfig.model_validate(doc)
    doc["lpr"] = {"port": 0, "allow_any": True}
    assert GateConfig.model_validate(doc).lpr.allow_any
    assert LprConfig().host == "127.0.0.1"  # never every interface unless configured


def test_unlisted_address_is_refused_and_nothing_opens(gate_agents: AgentFactory) -> None:
    app = gate_app()
    app["lpr"]["allow_from"] = ["192.168.10.21"]  # the camera; this test pushes from 127.0.0.1
    agent = gate_agents.make(hal=HAL, app=app)
    car = _car_in(agent)
    cam = LprCameraSim(agent.app.lpr.url, "cam-in")
    try:
        before = car.pulses()
        for plate in ("沪A12345", "沪B99999"):
            status, doc = cam.push(plate, plate_id=1)
            assert status == 403 and "allow_from" in doc["Response_AlarmInfoPlate"]["error"]
        assert not car.wait_open(before, 0.5) and agent.app.lpr.counts["forbidden"] == 2
        agent.app.lpr.cfg.allow_from[:] = [ip_network("127.0.0.1/32")]  # now listed: the same push is heard
        status, _ = cam.push("沪B99999", plate_id=2)
        assert status == 200 and car.wait_open(before, 2.0)
    finally:
        cam.close()


def test_shared_secret_url_header_or_basic(gate_agents: AgentFactory, tmp_path: Path) -> None:
    token = tmp_path / "lpr-token"
    token.write_text("s3cret-token-of-the-cameras\n", encoding="utf-8")
    app = gate_app()
    app["lpr"]["token_file"] = str(token)
    agent = gate_agents.make(hal=HAL, app=app)
    car = _car_in(agent)
    url = agent.app.lpr.url
    assert "token" not in url  # the URL the page shows carries no secret
    cams = {"none": LprCameraSim(url, "cam-in"), "wrong": LprCameraSim(url, "cam-in", token="guess"),
            "basic_wrong": LprCameraSim(url, "cam-in", basic=("cam", "guess")),
            "url": LprCameraSim(url, "cam-in", token="s3cret-token-of-the-cameras"),
            "basic": LprCameraSim(url, "cam-in", basic=("admin", "s3cret-token-of-the-cameras"))}
    try:
        before = car.pulses()
        for name in ("none", "wrong", "basic_wrong"):
            status, _ = cams[name].push("沪A12345", plate_id=10)
            assert status == 401, name
        r = httpx.post(url, content=b"{}", headers={"X-Linli-Token": "guess", "Content-Type": "application/json"})
        assert r.status_code == 401
        assert not car.wait_open(before, 0.5) and agent.app.lpr.counts["unauthorized"] == 4
        status, _ = cams["url"].push("沪B99999", plate_id=11)
        assert status == 200 and car.wait_open(before, 2.0)
        before = car.pulses()
        car.drive_through(0.2)
        status, _ = cams["basic"].push("沪B88888", plate_id=12)
        assert status == 200 and car.wait_open(before, 2.0)
        hb = httpx.post(url, json={"heartbeat": 1}, headers={"X-Linli-Token": "s3cret-token-of-the-cameras"})
        assert hb.status_code == 200
    finally:
        for c in cams.values():
            c.close()


def test_unreadable_secret_file_stops_the_lane_with_one_line(gate_agents: AgentFactory, tmp_path: Path) -> None:
    from edge.apps.gate.lprserver import load_token
    from edge.runtime.config import ConfigError

    cfg = LprConfig(allow_from=["127.0.0.1"], token_file=tmp_path / "missing")  # type: ignore[list-item]
    with pytest.raises(ConfigError, match=r"^lpr\.token_file: cannot read .*missing"):
        load_token(cfg)
