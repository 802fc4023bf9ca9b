"""Mirrors what devices report into Home Assistant's topics, from the ingest hooks (retained, QoS 1).

- a device's ``status`` → ``linli-ha/…/availability`` (online/offline) and, the first time and whenever the set of
  its entities changes (a charger reports its ports), the discovery configs;
- its ``telemetry`` → ``linli-ha/…/state``: the app state and gauges as one JSON object the entities' value
  templates read;
- a gate passage that opened the barrier → ``linli-ha/…/barrier`` (``{"event_type": "opened", …}``).

Publishing never blocks ingest (no wait for the broker's answer); state is retained, so a Home Assistant that
starts later sees the last values at once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from linli import contract
from linli.contract import DeviceRef, Kind
from linli.contract.gate import PassageData
from server.homeassistant.discovery import availability_topic, config_topic, entities, state_topic
from server.ingest.registry import HandlerRegistry, IngestContext

log = logging.getLogger(__name__)


class HomeAssistantBridge:
    def __init__(self, link_of: Callable[[], Any]) -> None:
        self.link_of = link_of
        self._announced: dict[str, tuple[str, ...]] = {}
        self._software: dict[str, str] = {}
        self._lock = threading.Lock()

    def _publish(self, topic: str, doc: Any, retain: bool = True) -> None:
        link = self.link_of()
        if link is None:
            return
        payload = doc if isinstance(doc, bytes) else json.dumps(doc, ensure_ascii=False, default=str).encode()
        if not link.publish(topic, payload, qos=1, retain=retain, wait_s=0):
            log.debug("home assistant: %s not published (broker away); the next report sends it again", topic)

    def announce(self, ref: DeviceRef, gauges: dict[str, Any]) -> None:
        ents = entities(ref, gauges, self._software.get(ref.key))
        ids = tuple(sorted(f"{e.component}/{e.object_id}" for e in ents))
        with self._lock:
            if self._announced.get(ref.key) == ids:
                return
            self._announced[ref.key] = ids
        for e in ents:
            self._publish(config_topic(ref, e), e.config)

    # ------------------------------------------------------------------ ingest hooks
    def on_status(self, ctx: IngestContext, st: contract.Status) -> None:
        if st.software and self._software.get(ctx.ref.key) != st.software:
            self._software[ctx.ref.key] = st.software
            with self._lock:
                self._announced.pop(ctx.ref.key, None)  # sw_version changed: announce again
        self._publish(availability_topic(ctx.ref), b"online" if st.state == "online" else b"offline")
        if ctx.ref.key not in self._announced:
            self.announce(ctx.ref, {})

    def on_telemetry(self, ctx: IngestContext, t: contract.Telemetry) -> None:
        self.announce(ctx.ref, t.gauges)
        self._publish(state_topic(ctx.ref), {"state": t.gauges.get("state", "online"), **t.gauges})

    def on_passage(self, ctx: IngestContext, ev: contract.Event, data: PassageData) -> None:
        if data.decision == "open":
            self._publish(state_topic(ctx.ref, "barrier"),
                          {"event_type": "opened", "lane": data.lane, "direction": data.direction,
                           "category": data.category}, retain=False)

    def register(self, registry: HandlerRegistry) -> None:
        for kind in Kind:
            registry.on_status(kind, self.on_status)
            registry.on_telemetry(kind, self.on_telemetry)
        registry.on_event(Kind.gate, self.on_passage, PassageData)
