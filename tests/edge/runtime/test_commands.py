"""Commands over MQTT (ok, expired, unknown, bad args, duplicate id, failing handler) and desired config."""

from __future__ import annotations

import json
from datetime import timedelta

from edge.apps.base import CommandSpec
from edge.apps.probe.sim import ProbeSim
from edge.runtime.harness import AgentFactory, Recorder
from linli.contract import Channel, Command, ConfigReported, utcnow
from linli.testing import wait_for


def _result(rec: Recorder, a: object, cmd_id: str) -> object:
    return rec.wait(lambda: [r for r in rec.results(a.ref) if r.id == cmd_id], what=f"result of {cmd_id}")[0]  # type: ignore[attr-defined]


def test_command_ok_is_executed_answered_audited_and_emitted(agents: AgentFactory, recorder: Recorder) -> None:
    a = agents.make()
    assert a.link.wait_connected(10)
    sim = ProbeSim(a.cfg.hal, a.app.cfg)
    cmd = recorder.command(a.ref, "set", {"on": True}, by="ops:li")
    res = _result(recorder, a, cmd.id)
    assert res.ok and res.name == "set" and res.result == {"on": True, "max_on_s": 60.0}
    assert sim.relay_on()
    ev = recorder.wait(lambda: recorder.events(a.ref, "cmd.executed"), what="cmd.executed")[0]
    assert ev.data == {"id": cmd.id, "name": "set", "by": "ops:li", "origin": "mqtt", "ok": True,
                       "result": {"on": True, "max_on_s": 60.0}}
    audit = (a.data_dir / "audit.log").read_text(encoding="utf-8")
    assert f"cmd set id={cmd.id} by=ops:li origin=mqtt ok" in audit
    recorder.command(a.ref, "set", {"on": False})
    wait_for(lambda: not sim.relay_on(), 5, what="relay off")


def test_expired_unknown_and_bad_args_are_refused(agents: AgentFactory, recorder: Recorder) -> None:
    a = agents.make()
    assert a.link.wait_connected(10)
    sim = ProbeSim(a.cfg.hal, a.app.cfg)
    now = utcnow()
    old = Command(by="ops", args={"on": True}, issued=now - timedelta(minutes=2), expires=now - timedelta(minutes=1))
    recorder.command(a.ref, "set", cmd=old)
    res = _result(recorder, a, old.id)
    assert not res.ok and res.error.startswith("expired at")

    unknown = recorder.command(a.ref, "launch", {})
    res = _result(recorder, a, unknown.id)
    assert not res.ok and res.error == "unknown command 'launch' (known: pulse, set)"

    bad = recorder.command(a.ref, "pulse", {"seconds": 60})
    res = _result(recorder, a, bad.id)
    assert not res.ok and res.error == "bad args: seconds: Input should be less than or equal to 5 (got 60)"

    extra = recorder.command(a.ref, "set", {"on": True, "force": True})
    res = _result(recorder, a, extra.id)
    assert not res.ok and "force: unknown key" in res.error

    refused = recorder.wait(lambda: (e := recorder.events(a.ref, "cmd.refused"))[3:] and e, what="4 refusals")
    assert {e.data["id"] for e in refused} == {old.id, unknown.id, bad.id, extra.id}
    assert all(e.severity == "warning" and e.data["by"] for e in refused)
    assert not sim.relay_on() and a.stats.get("commands", "refused") == 4


def test_malformed_command_is_refused_and_counted(agents: AgentFactory, recorder: Recorder) -> None:
    a = agents.make()
    assert a.link.wait_connected(10)
    recorder.raw(a.ref.cmd_topic("set"), b"not json")
    good_id = Command.make(by="x").id
    recorder.raw(a.ref.cmd_topic("set"), json.dumps({"id": good_id, "args": {}}).encode())  # no by/expires
    res = _result(recorder, a, good_id)
    assert not res.ok and res.error.startswith("malformed command: Command:")
    wait_for(lambda: a.stats.get("messages_malformed") == 2, 5, what="two malformed counted")
    # and it keeps working
    ok = recorder.command(a.ref, "pulse", {"seconds": 0.1})
    assert _result(recorder, a, ok.id).ok


def test_duplicate_command_id_runs_once_and_resends_its_result(agents: AgentFactory, recorder: Recorder) -> None:
    a = agents.make()
    assert a.link.wait_connected(10)
    calls: list[dict[str, object]] = []
    a.runner.specs["count"] = CommandSpec(lambda args: calls.append(args) or {"n": len(calls)})
    cmd = recorder.command(a.ref, "count", {"x": 1})
    first = _result(recorder, a, cmd.id)
    recorder.command(a.ref, "count", cmd=cmd)  # re-delivered (same id)
    recorder.wait(lambda: len([r for r in recorder.results(a.ref) if r.id == cmd.id]) == 2, what="the result again")
    again = [r for r in recorder.results(a.ref) if r.id == cmd.id][1]
    assert calls == [{"x": 1}]
    assert again.result == first.result == {"n": 1} and again.ts == first.ts
    assert len(recorder.events(a.ref, "cmd.executed")) == 1


def test_a_failing_handler_gives_ok_false_and_the_agent_keeps_running(
        agents: AgentFactory, recorder: Recorder) -> None:
    a = agents.make()
    assert a.link.wait_connected(10)

    def boom(args: object) -> dict[str, object]:
        raise ZeroDivisionError("division by zero")

    a.runner.specs["boom"] = CommandSpec(boom)
    cmd = recorder.command(a.ref, "boom")
    res = _result(recorder, a, cmd.id)
    assert not res.ok and res.error == "ZeroDivisionError: division by zero"
    ev = recorder.wait(lambda: recorder.events(a.ref, "cmd.failed"), what="cmd.failed")[0]
    assert ev.data["error"] == res.error
    ok = recorder.command(a.ref, "pulse", {"seconds": 0.1})
    assert _result(recorder, a, ok.id).ok


def test_app_safety_refusal(agents: AgentFactory, recorder: Recorder) -> None:
    a = agents.make(app={"pulse_max_s": 1.0})
    assert a.link.wait_connected(10)
    cmd = recorder.command(a.ref, "pulse", {"seconds": 2})
    res = _result(recorder, a, cmd.id)
    assert not res.ok and "longer than pulse_max_s" in res.error
    assert recorder.wait(lambda: recorder.events(a.ref, "cmd.refused"))


def _reports(rec: Recorder, a: object) -> list[ConfigReported]:
    return rec.payloads(Channel.config_reported, a.ref)  # type: ignore[attr-defined]


def test_desired_config_valid_is_applied_invalid_keeps_the_old(agents: AgentFactory, recorder: Recorder) -> None:
    a = agents.make()
    assert a.link.wait_connected(10)
    recorder.desired(a.ref, 1, {"pulse_max_s": 2.5})
    rep = recorder.wait(lambda: [r for r in _reports(recorder, a) if r.version == 1], what="report v1")[0]
    assert rep.ok and rep.applied_version == 1 and rep.error is None
    assert a.app.cfg.pulse_max_s == 2.5
    st = recorder.wait(lambda: [s for s in recorder.payloads(Channel.status, a.ref)
                                if s.config_version and s.config_version.endswith("+r1")], what="status with +r1")
    assert st

    recorder.desired(a.ref, 2, {"pulse_max_s": 50})
    rep = recorder.wait(lambda: [r for r in _reports(recorder, a) if r.version == 2], what="report v2")[0]
    assert not rep.ok and rep.applied_version == 1
    assert "app.pulse_max_s: Input should be less than or equal to 5 (got 50)" in rep.error
    assert a.app.cfg.pulse_max_s == 2.5

    recorder.desired(a.ref, 3, {"button": "output"})  # validates against hal, then the app refuses too
    rep = recorder.wait(lambda: [r for r in _reports(recorder, a) if r.version == 3], what="report v3")[0]
    assert not rep.ok and "no input named 'output'" in rep.error

    d4 = recorder.desired(a.ref, 4, {"max_on_s": 5})
    rep = recorder.wait(lambda: [r for r in _reports(recorder, a) if r.version == 4], what="report v4")[0]
    assert rep.ok and rep.applied_version == 4
    assert a.app.cfg.pulse_max_s == 5.0 and a.app.cfg.max_on_s == 5  # overrides replace, onto the file config
    assert a.desired.handle(d4.encode()).ok  # re-delivered (retained, on every reconnect): answered quietly
    types = [e.type for e in a.recent_events if e.type.startswith("config.")][::-1]
    assert types == ["config.applied", "config.refused", "config.refused", "config.applied"]


def test_applied_overrides_survive_a_restart(agents: AgentFactory, recorder: Recorder) -> None:
    a = agents.make()
    assert a.link.wait_connected(10)
    recorder.desired(a.ref, 7, {"pulse_max_s": 1.5})
    recorder.wait(lambda: [r for r in _reports(recorder, a) if r.version == 7 and r.ok], what="report v7")
    a.stop()
    recorder.raw(a.ref.config_desired_topic, b"", retain=True)  # the server cleared it meanwhile (no message now)
    b = agents.make(ref=a.ref, start=False)
    assert b.app.cfg.pulse_max_s == 1.5 and b.desired.applied_version == 7
