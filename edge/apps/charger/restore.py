"""After an agent restart (a power cut): resume the sessions still plugged within ``resume_within_s`` (the outage
is not billed as charging time), settle the others from the journal and the MCU's counters."""

from __future__ import annotations

from firmware_bridge.pile.messages import PortsSnapshot

from .port import Session
from .sessions import Sessions


class Restore(Sessions):
    def _restore(self, snap: PortsSnapshot, t: float) -> None:
        """After an agent restart: resume sessions still plugged within ``resume_within_s``, settle the others."""
        self.restored = True
        by_port = {st.port: st for st in snap.ports}
        for doc in self.journal.open_sessions():
            s = Session.from_json(doc)
            if not 1 <= s.port <= len(self.ports):
                continue
            p = self.ports[s.port - 1]
            st = by_port.get(s.port)
            p.session = s
            p.plugged = bool(st and st.plugged)
            if st is not None and s.state != "authorised":
                s.count_energy(st.energy_wh, t, s.tariff_model)  # energy drawn until the MCU's watchdog cut
            gap = t - (s.last_tick or s.created_at)
            if s.state == "authorised":
                if gap >= self.cfg.limits.wait_plug_s:
                    self._finish(p, "no_plug", switch_off=False)
                continue
            if (gap <= self.cfg.resume_within_s and p.plugged and not self.smoke
                    and s.limit_reason(self.cfg.limits, s.tariff_model) is None):
                s.resumed += 1
                s.last_tick = t  # the outage is not billed as charging time
                s.restart_tier_window()
                if self._relay(p.number, True):
                    self.journal.save_session(s.to_json(), True, t)
                    continue
            self._finish(p, "power_restored")
