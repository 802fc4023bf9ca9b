"""Home Assistant MQTT discovery payloads for linli devices (pure functions; the bridge publishes them).

Conventions followed (Home Assistant's MQTT discovery): the config topic is
``<prefix>/<component>/<node_id>/<object_id>/config`` with ids of ``[a-zA-Z0-9_-]``; every entity has a
``unique_id`` and a ``device`` with ``identifiers``, so that HA groups a device's entities and lets users rename
them; ``availability`` points at the device's retained online/offline topic; sensors name their
``device_class``/``state_class``/``unit_of_measurement`` where one applies; nothing has a ``command_topic``
(read-only by design).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from linli.contract import DeviceRef, Kind
from linli.provision import HA_DISCOVERY_PREFIX, HA_STATE_PREFIX

ID_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
_PORT_GAUGE = re.compile(r"^p(\d{1,3})_w$")
_LANE_GAUGE = re.compile(r"^lane_([a-z0-9_-]+)_state$")
KIND_NAMES = {Kind.lift_guard: "电梯电瓶车阻止器", Kind.gate: "道闸", Kind.charger: "充电桩",
              Kind.taxi_kiosk: "一键叫车屏", Kind.probe: "调试探针"}


@dataclass(frozen=True)
class Entity:
    component: str          # sensor | binary_sensor | event
    object_id: str
    config: dict[str, Any]


def node_id(ref: DeviceRef) -> str:
    return f"linli_{ref.site}_{ref.device}".replace(".", "_")


def state_topic(ref: DeviceRef, what: str = "state") -> str:
    return f"{HA_STATE_PREFIX}/{ref.site}/{ref.kind.value}/{ref.device}/{what}"


def availability_topic(ref: DeviceRef) -> str:
    return state_topic(ref, "availability")


def config_topic(ref: DeviceRef, e: Entity) -> str:
    return f"{HA_DISCOVERY_PREFIX}/{e.component}/{node_id(ref)}/{e.object_id}/config"


def _device(ref: DeviceRef, software: str | None) -> dict[str, Any]:
    d: dict[str, Any] = {"identifiers": [node_id(ref)], "name": f"{KIND_NAMES[ref.kind]} {ref.device}",
                         "manufacturer": "linli 邻里", "model": ref.kind.value, "suggested_area": ref.site}
    if software:
        d["sw_version"] = software
    return d


def _entity(ref: DeviceRef, component: str, key: str, name: str, software: str | None, **extra: Any) -> Entity:
    cfg: dict[str, Any] = {
        "name": name, "unique_id": f"{node_id(ref)}_{key}", "object_id": f"{node_id(ref)}_{key}",
        "availability": [{"topic": availability_topic(ref), "payload_available": "online",
                          "payload_not_available": "offline"}],
        "device": _device(ref, software), "origin": {"name": "linli"},
    }
    if component != "event":
        cfg["state_topic"] = state_topic(ref)
    cfg.update(extra)
    return Entity(component, key, cfg)


def entities(ref: DeviceRef, gauges: dict[str, Any], software: str | None = None) -> list[Entity]:
    """The entities of one device, from the gauges it reports (a charger's ports, a gate's lanes)."""
    out: list[Entity] = []
    if ref.kind is Kind.lift_guard:
        out += [
            _entity(ref, "sensor", "state", "状态", software, value_template="{{ value_json.state }}",
                    icon="mdi:elevator"),
            _entity(ref, "binary_sensor", "blocking", "正在阻止电瓶车", software, device_class="problem",
                    value_template="{{ 'ON' if value_json.state == 'blocking' else 'OFF' }}",
                    payload_on="ON", payload_off="OFF"),
            _entity(ref, "binary_sensor", "door_open", "轿门开启", software, device_class="door",
                    value_template="{{ 'ON' if value_json.door_open else 'OFF' }}", payload_on="ON", payload_off="OFF"),
            _entity(ref, "sensor", "blocks", "阻止次数", software, state_class="total_increasing",
                    value_template="{{ value_json.blocks }}", icon="mdi:bicycle-electric"),
        ]
    elif ref.kind is Kind.gate:
        out += [
            _entity(ref, "event", "barrier", "道闸抬杆", software, state_topic=state_topic(ref, "barrier"),
                    event_types=["opened"], icon="mdi:boom-gate-up"),
            _entity(ref, "sensor", "inside_total", "场内车辆", software, state_class="measurement",
                    unit_of_measurement="辆", value_template="{{ value_json.inside_total }}"),
        ]
        for g in sorted(gauges):
            if m := _LANE_GAUGE.match(g):
                lane = m.group(1)
                out.append(_entity(ref, "sensor", f"lane_{lane}", f"车道 {lane} 道闸", software,
                                   value_template=f"{{{{ value_json.{g} }}}}", icon="mdi:boom-gate"))
    elif ref.kind is Kind.taxi_kiosk:
        out += [
            _entity(ref, "sensor", "screen", "屏幕", software, value_template="{{ value_json.screen }}",
                    icon="mdi:taxi"),
            _entity(ref, "sensor", "orders_today", "今日叫车", software, state_class="total_increasing",
                    value_template="{{ value_json.orders_today }}", icon="mdi:taxi"),
        ]
    elif ref.kind is Kind.charger:
        out.append(_entity(ref, "sensor", "pile_power", "整桩功率", software, device_class="power",
                           state_class="measurement", unit_of_measurement="W",
                           value_template="{{ value_json.pile_power_w }}"))
        ports = sorted(int(m.group(1)) for g in gauges if (m := _PORT_GAUGE.match(g)))
        for n in ports:
            out += [
                _entity(ref, "sensor", f"p{n}_power", f"{n} 号插座功率", software, device_class="power",
                        state_class="measurement", unit_of_measurement="W",
                        value_template=f"{{{{ value_json.p{n}_w }}}}"),
                _entity(ref, "sensor", f"p{n}_energy", f"{n} 号插座本次电量", software, device_class="energy",
                        state_class="total_increasing", unit_of_measurement="Wh",
                        value_template=f"{{{{ value_json.p{n}_wh if value_json.p{n}_wh is not none else 0 }}}}"),
                _entity(ref, "sensor", f"p{n}_state", f"{n} 号插座状态", software,
                        value_template=f"{{{{ value_json.p{n}_state }}}}", icon="mdi:ev-plug-type2"),
            ]
    return out


def problems(topic: str, cfg: dict[str, Any]) -> list[str]:
    """Where a discovery message breaks Home Assistant's rules (empty when it is fine)."""
    out: list[str] = []
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[-1] != "config" or parts[0] != HA_DISCOVERY_PREFIX:
        out.append(f"{topic}: not <prefix>/<component>/[<node_id>/]<object_id>/config")
    elif not all(ID_RE.fullmatch(p) for p in parts[2:-1]):
        out.append(f"{topic}: node_id/object_id may only hold a-z A-Z 0-9 _ -")
    component = parts[1] if len(parts) > 1 else ""
    if component not in ("sensor", "binary_sensor", "event"):
        out.append(f"{topic}: component {component!r} is not one linli publishes")
    if not cfg.get("unique_id"):
        out.append(f"{topic}: no unique_id (HA cannot register the entity)")
    dev = cfg.get("device") or {}
    if not isinstance(dev.get("identifiers"), list) or not dev["identifiers"]:
        out.append(f"{topic}: device.identifiers must be a non-empty list")
    if component in ("sensor", "binary_sensor", "event") and not cfg.get("state_topic"):
        out.append(f"{topic}: {component} needs a state_topic")
    if component == "event" and not cfg.get("event_types"):
        out.append(f"{topic}: an event entity needs event_types")
    if any(k.endswith("command_topic") for k in cfg):
        out.append(f"{topic}: linli's discovery is read-only (no command topics)")
    for key, value in cfg.items():
        if key.endswith("_topic") and isinstance(value, str) and ("#" in value or "+" in value):
            out.append(f"{topic}: {key} has a wildcard")
    for a in cfg.get("availability", []):
        if "#" in a.get("topic", "#") or "+" in a["topic"]:
            out.append(f"{topic}: availability topic has a wildcard")
    if cfg.get("state_class") and cfg["state_class"] not in ("measurement", "total", "total_increasing"):
        out.append(f"{topic}: state_class {cfg['state_class']!r} is unknown")
    if cfg.get("device_class") == "power" and cfg.get("unit_of_measurement") not in ("W", "kW"):
        out.append(f"{topic}: a power sensor needs W or kW")
    if cfg.get("device_class") == "energy" and cfg.get("unit_of_measurement") not in ("Wh", "kWh", "MWh"):
        out.append(f"{topic}: an energy sensor needs Wh, kWh or MWh")
    if cfg.get("device_class") == "energy" and cfg.get("state_class") not in ("total", "total_increasing"):
        out.append(f"{topic}: an energy sensor must be total or total_increasing")
    return out
