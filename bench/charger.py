#!/usr/bin/env python3
"""Charger poll-cycle benchmark: one poll of a 10-port pile (MCU READ_PORTS + heartbeat) and its Modbus meter
(DDSU666: energy, power, voltage), through the real controller code over real serial bytes on ptys.

    python bench/charger.py --quick        # < 60 s
    python bench/charger.py

- ``cycle_ms_fast``: measured wall time of ``PileController.poll()`` with ptys (no line-speed limit): the CPU and
  protocol cost of one cycle.
- ``cycle_ms_9600``: that plus the time the cycle's bytes (counted on the HAL serial ports) need on a 9600 baud
  line (10 bits per byte) and a 3.5-character turnaround per request (Modbus RTU's frame gap): what one cycle
  costs when every device of the pile shares one 9600 baud RS-485 bus.
- ``piles_per_agent``: how many such piles one agent can poll within a 1 s cycle on one shared 9600 baud bus
  (``cpu_piles_per_agent``: the CPU-bound figure when each pile has its own UART).
- ``pay_to_start_p99_ms``: a resident's payment notification → the port's relay on, through the server, the
  simulated payment provider, Mosquitto, a charger agent and the pile simulator (``bench/pay_to_start.py``;
  target ≤ 1000 ms).
Last line: ``RESULT cycle_ms_9600=… cycle_ms_fast=… piles_per_agent=… pay_to_start_p99_ms=…``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.apps.charger.config import ChargerConfig  # noqa: E402
from edge.apps.charger.journal import Journal  # noqa: E402
from edge.apps.charger.pile import PileController  # noqa: E402
from edge.hal.config import SerialConfig  # noqa: E402
from edge.hal.serialport import SerialPort  # noqa: E402
from firmware_bridge.sim.clock import SimClock  # noqa: E402
from firmware_bridge.sim.modbus_meter import ModbusMeterSim  # noqa: E402
from firmware_bridge.sim.pile_sim import PileSim  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
import pay_to_start  # noqa: E402

BAUD = 9600
LOADS = ["ebike_48v", "ebike_48v", "ebike_48v_li", "phone", "ebike_72v_modified", "ebike_48v", "phone",
         "ebike_48v", "ebike_48v_li", "ebike_48v"]


def run(cycles: int) -> dict[str, Any]:
    clock = SimClock(speed=60)
    events: list[tuple[str, Any]] = []
    with PileSim(10, clock=clock) as pile, ModbusMeterSim("ddsu666", source=pile.meter_values) as meter, \
            tempfile.TemporaryDirectory() as tmp:
        cfg = ChargerConfig.model_validate({
            "ports": 10, "mcu_serial": "mcu", "mcu_watchdog_s": 30, "poll_interval_s": 1.0,
            "meter": {"protocol": "modbus", "serial": "meter", "map": "ddsu666", "interval_s": 0.001,
                      "lost_after_s": 60}})
        mcu_port = SerialPort("mcu", SerialConfig(url=pile.device_path, baudrate=115200, timeout_s=0.02))
        meter_port = SerialPort("meter", SerialConfig(url=meter.device_path, baudrate=BAUD, timeout_s=0.02))
        journal = Journal(Path(tmp) / "j.sqlite")
        ctl = PileController(cfg, journal, mcu_port, meter_port, lambda *a, **k: events.append((a[0], a[1:])),
                             lambda: 1_763_700_000.0 + clock.now(), "bench-pile")
        try:
            for n, load in enumerate(LOADS, start=1):
                pile.plug(n, load)
            for _ in range(5):  # hello, heartbeat, first reads
                ctl.poll()
            for n in range(1, 11):
                ctl.start_session(n, "remote", "bench", "time_tiers", 0, 0)
            for _ in range(3):
                ctl.poll()
            b0 = mcu_port.bytes_in + mcu_port.bytes_out + meter_port.bytes_in + meter_port.bytes_out
            r0 = ctl.mcu.stats.requests
            m0 = ctl.meter.client.stats.reads if ctl.meter is not None else 0
            times = []
            for _ in range(cycles):
                t0 = time.perf_counter()
                ctl.poll()
                times.append((time.perf_counter() - t0) * 1000)
            b1 = mcu_port.bytes_in + mcu_port.bytes_out + meter_port.bytes_in + meter_port.bytes_out
            requests = (ctl.mcu.stats.requests - r0) + ((ctl.meter.client.stats.reads - m0) if ctl.meter else 0)
            running = sum(1 for p in ctl.ports if p.session is not None)
        finally:
            ctl.close()
            journal.close()
            mcu_port.close()
            meter_port.close()
    bytes_per_cycle = (b1 - b0) / cycles
    requests_per_cycle = requests / cycles
    fast = statistics.median(times)
    wire_ms = (bytes_per_cycle * 10 + requests_per_cycle * 3.5 * 10) / BAUD * 1000
    return {"cycle_ms_fast": fast, "cycle_ms_fast_p95": sorted(times)[int(0.95 * (len(times) - 1))],
            "bytes_per_cycle": bytes_per_cycle, "requests_per_cycle": requests_per_cycle,
            "cycle_ms_9600": fast + wire_ms, "running": running, "cycles": cycles}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer cycles (< 60 s)")
    args = ap.parse_args()
    r = run(200 if args.quick else 1000)
    pay = pay_to_start.run(20 if args.quick else 100)
    piles = int(1000 // r["cycle_ms_9600"])
    cpu_piles = int(1000 // r["cycle_ms_fast"])
    print(f"10-port pile + DDSU666 meter, {r['cycles']} polls, {r['running']} ports charging")
    print(f"  per cycle: {r['bytes_per_cycle']:.0f} bytes on the wire, {r['requests_per_cycle']:.1f} requests")
    print(f"  unthrottled (pty): median {r['cycle_ms_fast']:.2f} ms, p95 {r['cycle_ms_fast_p95']:.2f} ms")
    print(f"  at {BAUD} baud (one shared bus): {r['cycle_ms_9600']:.1f} ms per cycle")
    print(f"  piles per agent within 1 s: {piles} on one {BAUD} baud bus, {cpu_piles} CPU-bound (own UARTs)")
    print(f"payment notification → relay on, {pay['samples']} paid starts: p50 {pay['p50']:.0f} ms, "
          f"p99 {pay['p99']:.0f} ms (target ≤ 1000 ms)")
    print(f"RESULT cycle_ms_9600={r['cycle_ms_9600']:.1f} cycle_ms_fast={r['cycle_ms_fast']:.2f} "
          f"piles_per_agent={piles} cpu_piles_per_agent={cpu_piles} bytes_per_cycle={r['bytes_per_cycle']:.0f} "
          f"pay_to_start_p99_ms={pay['p99']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
