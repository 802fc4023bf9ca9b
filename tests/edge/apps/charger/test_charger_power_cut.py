"""A power cut mid-session: the agent process is killed (SIGKILL) and started again; one correct bill results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edge.apps.charger.config import ChargerConfig
from edge.apps.charger.sim import ChargerWorld
from edge.hal.config import HalConfig
from edge.runtime.harness import AgentFactory, Recorder
from linli.contract.charger import Settlement
from linli.merge import deep_merge
from linli.testing import wait_for

from .conftest import APP, HAL

REPO = Path(__file__).resolve().parents[4]


def spawn(path: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "PYTHONUNBUFFERED": "1"}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "linli.cli", "agent", "-c", str(path)], stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=REPO)


def test_kill_agent_mid_session_then_restart_resumes_or_settles_once(factory: AgentFactory, recorder: Recorder,
                                                                    tmp_path: Path) -> None:
    app = deep_merge(APP, {"mcu_watchdog_s": 2, "poll_interval_s": 0.2, "journal_interval_s": 0.3,
                     "resume_within_s": 120, "settle_resend_s": 300})
    world = ChargerWorld(HalConfig.model_validate(HAL), ChargerConfig.model_validate(app), speed=600).start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        hal = deep_merge(HAL, {})
        hal["serial"] = {n: {**hal["serial"][n], "url": p} for n, p in world.paths().items()}
        ref = factory.new_ref()
        _, path = factory.config(ref, hal=hal, app=app)
        log = tmp_path / "agent.log"

        def run_agent() -> subprocess.Popen[bytes]:
            p = spawn(path, log)
            procs.append(p)
            recorder.wait(lambda: [e for e in recorder.events(ref, "agent.started")][len(procs) - 1:], 20,
                          what="agent started")
            return p

        def bills(order: str) -> list[Settlement]:
            return [Settlement.model_validate(e.data) for e in recorder.events(ref, "charger.settlement")
                    if e.data["order_id"] == order]

        def command(name: str, **args: Any) -> Any:
            cmd = recorder.command(ref, name, args)
            return recorder.wait(lambda: next((r for r in recorder.results(ref) if r.id == cmd.id), None), 15,
                                 what=name)

        world.pile.plug(3, "ebike_48v")
        world.pile.plug(4, "ebike_48v")
        agent = run_agent()
        wait_for(lambda: command("start", port=3, order_id="cut-3").ok, 20, what="start on port 3")
        assert command("start", port=4, order_id="cut-4").ok
        assert world.pile.relay_on(3) and world.pile.relay_on(4)
        time.sleep(1.5)  # 15 simulated minutes of charging
        agent.send_signal(signal.SIGKILL)  # the power cut, as far as the agent can tell
        agent.wait(5)
        wait_for(lambda: not world.pile.relay_on(3) and not world.pile.relay_on(4), 6,
                 what="MCU watchdog dropping the relays")
        cut3_wh, cut4_wh = world.pile.port(3).energy_wh, world.pile.port(4).energy_wh
        assert cut3_wh > 10 and cut4_wh > 10
        world.pile.unplug(4)  # during the outage, the owner of port 4 takes the bike away

        run_agent()  # back within resume_within_s
        wait_for(lambda: world.pile.relay_on(3), 10, what="port 3 resumed (still plugged)")
        wait_for(lambda: bills("cut-4"), 10, what="bill of cut-4")
        b4 = bills("cut-4")[0]  # not plugged any more: settled from the journal and the MCU's counter
        assert b4.stop_reason == "power_restored" and not world.pile.relay_on(4)
        assert cut4_wh - 2 <= b4.energy_wh <= cut4_wh + 0.5, (b4.energy_wh, cut4_wh)
        assert not bills("cut-3")
        time.sleep(1.0)
        world.pile.unplug(3)
        wait_for(lambda: bills("cut-3"), 10, what="bill of cut-3")
        final_wh = world.pile.port(3).energy_wh
        bill = bills("cut-3")[0]
        assert bill.stop_reason == "unplugged" and bill.resumed == 1
        assert final_wh - 2 <= bill.energy_wh <= final_wh + 0.5, (bill.energy_wh, final_wh)
        time.sleep(1.0)
        assert len(bills("cut-3")) == 1 and len(bills("cut-4")) == 1  # billed once each
        started = [e.data["order_id"] for e in recorder.events(ref, "charger.session_started")]
        assert started.count("cut-3") == 1 and started.count("cut-4") == 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        world.stop()
