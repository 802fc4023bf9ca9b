"""The feeder meter: read every ``interval_s``, its total kept in the journal, its loss reported."""

from __future__ import annotations

from .safety import Safety


class MeterChecks(Safety):
    def _check_meter(self) -> None:
        if self.meter is None:
            return
        t = self.now()
        if self.cfg.meter is not None and t - self.last_meter_read >= self.cfg.meter.interval_s:
            self.last_meter_read = t
            if self.meter.read() is not None:
                self.journal.set_meta("meter", {"total_kwh": self.meter.total_kwh,
                                                "last_raw_kwh": self.meter.last_raw_kwh})
        if self.meter.lost():
            if not self.meter_lost_reported:
                self.meter_lost_reported = True
                self._fault("meter_lost", None, f"energy meter not answering: {self.meter.last_error}")
                self.stop_all("meter_lost")
        elif self.meter_lost_reported:
            self.meter_lost_reported = False
            self._fault("meter_lost", None, "energy meter answering again", active=False)

    def _meter_fault(self, kind: str, detail: str, value: float) -> None:
        self._fault(kind, None, detail, value=value, severity="warning")
