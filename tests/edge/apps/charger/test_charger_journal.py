"""The session journal after a power cut left its file unreadable: moved aside, the pile starts and charges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.apps.charger.journal import Journal
from edge.runtime.config import load_config


def garbage(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)  # a header, then torn pages


def test_corrupt_journal_is_moved_aside_and_a_new_one_works(tmp_path: Path) -> None:
    path = tmp_path / "charger.sqlite"
    garbage(path)
    j = Journal(path)
    try:
        j.save_session({"order_id": "o-1", "port": 1}, True, 1.0)
        assert [s["order_id"] for s in j.open_sessions()] == ["o-1"]
    finally:
        j.close()
    aside = list(tmp_path.glob("charger.sqlite.corrupt-*"))
    assert aside and aside[0].read_bytes().startswith(b"SQLite format 3")  # kept for the technician


def test_agent_starts_on_a_corrupt_journal_and_charges(make_bench: Any) -> None:
    b = make_bench(start=False)
    data = load_config(b.config_path()).agent.data_dir / "app"
    garbage(data / "charger.sqlite")
    b.start_agent()
    b.pile.plug(2, "phone")
    b.settle()
    res = b.command("start", port=2, order_id="after-corrupt")
    assert res.ok and res.result["state"] == "charging" and b.pile.relay_on(2)
    assert list(data.glob("charger.sqlite.corrupt-*"))


def test_clean_stop_switches_off_keeps_the_session_and_the_next_start_resumes_it(make_bench: Any) -> None:
    b = make_bench()
    b.pile.plug(4, "ebike_48v")
    b.settle()
    assert b.command("start", port=4, order_id="clean-4").ok and b.pile.relay_on(4)
    b.advance(600, step=300)
    b.agent.stop()  # PileController.shutdown(): relays off, the open session journaled
    assert not b.pile.relay_on(4)
    j = Journal(load_config(b.config_path()).agent.data_dir / "app" / "charger.sqlite")
    try:
        assert [s["order_id"] for s in j.open_sessions()] == ["clean-4"] and j.pending_count() == 0
    finally:
        j.close()
    b.start_agent()
    assert b.pile.relay_on(4) and b.ctl.ports[3].session.order_id == "clean-4"
    b.advance(600, step=300)
    b.command("stop", port=4)
    bills = [e.data for e in b.wait_events("charger.settlement")]
    assert [(x["order_id"], x["resumed"], x["stop_reason"]) for x in bills] == [("clean-4", 1, "remote_stop")]
    assert 1195 <= bills[0]["charged_s"] <= 1205
    assert [e.data["order_id"] for e in b.events("charger.session_started")] == ["clean-4"]
