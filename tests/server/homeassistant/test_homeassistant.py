"""Home Assistant discovery through a real broker: what the server publishes follows HA's discovery rules, carries
each device's state, and the Home Assistant account can read it — and nothing else."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from linli.contract import DeviceRef, Kind
from linli.provision import HA_USERNAME
from server.app import create_app
from server.homeassistant.discovery import entities, problems
from server.testing import DeviceSim, make_settings, running


class HaClient:
    """Connects as Home Assistant would, with the read-only account, and records what it receives."""

    def __init__(self, host: str, port: int, password: str) -> None:
        self.got: dict[str, bytes] = {}
        self.denied: list[int] = []
        self._lock = threading.Lock()
        self._sub = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=HA_USERNAME, protocol=mqtt.MQTTv5)
        c.username_pw_set(HA_USERNAME, password)
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.connect(host, port)
        c.loop_start()
        self.c = c

    def _on_message(self, _c, _u, m) -> None:
        with self._lock:
            self.got[m.topic] = m.payload

    def _on_subscribe(self, _c, _u, _mid, codes, _p) -> None:
        self.denied += [i for i, rc in enumerate(codes) if rc.is_failure]
        self._sub.set()

    def subscribe(self, topic: str) -> None:
        self._sub.clear()
        self.c.subscribe(topic, qos=1)
        assert self._sub.wait(5)

    def wait(self, pred, timeout: float = 15.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                got = pred(dict(self.got))
            if got:
                return got
            time.sleep(0.1)
        raise AssertionError(f"timed out; have {sorted(self.got)}")

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def test_discovery_state_and_read_only_account(tmp_path: Path, mqtt_broker) -> None:
    ha_pw = mqtt_broker.secrets.ha_credentials().password
    mqtt_broker.broker.reload()
    settings = make_settings(tmp_path / "srv", f"sqlite:///{tmp_path}/s.db", mqtt_broker,
                             homeassistant={"enabled": True})
    site = f"ha-{uuid.uuid4().hex[:6]}"
    pile = DeviceRef(site, Kind.charger, "pile-01")
    lift = DeviceRef(site, Kind.lift_guard, "lift-01")
    with running(create_app(settings)):
        ha = HaClient(mqtt_broker.host, mqtt_broker.port, ha_pw)
        try:
            ha.subscribe("homeassistant/#")
            ha.subscribe(f"linli-ha/{site}/#")
            dp = DeviceSim.provisioned(mqtt_broker, pile)
            dl = DeviceSim.provisioned(mqtt_broker, lift)
            dp.status("online", software="1.2.3")
            dp.telemetry(gauges={"pile_power_w": 180.5, "p1_w": 120.0, "p1_wh": 35.5, "p1_state": "charging",
                                 "p2_w": 60.5, "p2_wh": None, "p2_state": "idle"})
            dl.status("online", software="1.2.3")
            dl.telemetry(gauges={"state": "blocking", "door_open": True, "blocks": 4})
            node = f"linli_{site}_pile-01"
            got = ha.wait(lambda g: f"homeassistant/sensor/{node}/p2_energy/config" in g
                          and f"linli-ha/{site}/lift_guard/lift-01/state" in g and g)
            # this site's devices only: the broker keeps other tests' devices' retained status, which this server
            # announces too
            configs = {t: json.loads(p) for t, p in got.items()
                       if t.startswith("homeassistant/") and f"/linli_{site}_" in t}
            assert len(configs) >= 7 + 4
            for topic, cfg in configs.items():
                assert problems(topic, cfg) == [], (topic, cfg)
                assert cfg["device"]["sw_version"] == "1.2.3"
            assert got[f"linli-ha/{site}/charger/pile-01/availability"] == b"online"
            state = json.loads(got[f"linli-ha/{site}/charger/pile-01/state"])
            assert state["p1_w"] == 120.0 and state["p1_state"] == "charging"
            lift_state = json.loads(got[f"linli-ha/{site}/lift_guard/lift-01/state"])
            assert lift_state["state"] == "blocking" and lift_state["blocks"] == 4
            # the device's LWT → unavailable in HA
            dp.abort()
            ha.wait(lambda g: g.get(f"linli-ha/{site}/charger/pile-01/availability") == b"offline")
            # read-only: the HA account sees nothing of the linli tree and cannot write discovery or state
            ha.subscribe("linli/v1/#")  # Mosquitto grants it but delivers nothing the ACL does not allow
            dl.event("lift_guard.fault", data={"fault": "camera"})
            dl.status("online", software="1.2.3")
            time.sleep(1.0)
            assert not [t for t in ha.got if t.startswith("linli/v1/")], "HA must not read devices' raw topics"
            info = ha.c.publish(f"homeassistant/sensor/{node}/p1_power/config", b"{}", qos=1, retain=True)
            info.wait_for_publish(5)
            time.sleep(0.5)
            assert json.loads(ha.got[f"homeassistant/sensor/{node}/p1_power/config"])["unique_id"]
            dl.status("offline")
        finally:
            ha.close()


def test_every_kind_publishes_only_well_formed_discovery() -> None:
    gauges = {"state": "idle", "door_open": False, "blocks": 0, "inside_total": 3, "lane_in_state": "closed",
              "pile_power_w": 0, "p1_w": 0, "p1_wh": None, "p1_state": "idle", "screen": "home", "orders_today": 0}
    from server.homeassistant.discovery import config_topic

    for kind in Kind:
        ref = DeviceRef("sh-x", kind, "d-1")
        for e in entities(ref, gauges, "1.0"):
            assert problems(config_topic(ref, e), e.config) == []
    ref = DeviceRef("sh-x", Kind.charger, "d-1")
    bad = dict(entities(ref, gauges)[1].config, command_topic="x/set", unit_of_measurement="V")
    assert len(problems("homeassistant/sensor/n/o/config", bad)) == 2


def test_server_settings_have_a_json_schema_like_the_agents() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "server.settings"], capture_output=True, text=True, check=True)
    schema = json.loads(out.stdout)
    assert schema["title"] == "linli server settings"
    assert {"database", "mqtt", "updates", "homeassistant"} <= set(schema["properties"])
