"""Staged roll-outs: the rules as properties over random fleets, and a 100-device roll-out through the database and
the ingest handlers (devices answering as the updater does)."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linli import contract
from linli.contract import DeviceRef, Kind, utcnow
from linli.release import keygen, load_private, pack_source, sign
from server.db.engine import Database
from server.db.migrate import upgrade
from server.db.models import Device
from server.ingest.registry import HandlerRegistry, IngestContext
from server.settings import DatabaseSettings
from server.updates.models import RolloutDevice
from server.updates.planner import FAILED, IN_FLIGHT, OK, plan, stage_sizes
from server.updates.service import UpdateConfig, create_rollout, progress, register, store_release, tick


def test_stage_sizes_are_cumulative_and_end_with_the_fleet() -> None:
    assert stage_sizes([1, 0.1, 1.0], 100) == [1, 10, 100]
    assert stage_sizes([1, 0.1], 5) == [1, 1, 5]
    assert stage_sizes([20], 5) == [5]
    with pytest.raises(ValueError):
        stage_sizes([0], 5)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 120), max_parallel=st.integers(1, 12), max_failures=st.integers(1, 4),
       fail_rate=st.sampled_from([0.0, 0.02, 0.2]), seed=st.integers(0, 2**32 - 1))
def test_a_simulated_fleet_never_breaks_the_staging(n: int, max_parallel: int, max_failures: int,
                                                    fail_rate: float, seed: int) -> None:
    rnd = random.Random(seed)
    stages = [1, 0.1, 0.5, 1.0]
    sizes = stage_sizes(stages, n)
    states = ["waiting"] * n
    online = [rnd.random() > 0.05 for _ in range(n)]
    sent_order: list[int] = []
    for _round in range(20 * n + 50):
        d = plan(states, online, stages, max_parallel, max_failures)
        failures = sum(s in FAILED for s in states)
        if d.state == "halted":
            assert failures >= max_failures and not d.send
            break
        assert failures < max_failures
        if d.state == "done":
            assert all(s in OK for s in states)
            break
        # never more than max_parallel at once, never beyond the stage in progress
        assert sum(s in IN_FLIGHT for s in states) + len(d.send) <= max_parallel
        assert all(i < sizes[d.stage] for i in d.send)
        assert all(all(states[i] in OK for i in range(sizes[k])) for k in range(d.stage))
        for i in d.send:
            assert states[i] == "waiting" and online[i]
            states[i] = "sent"
            sent_order.append(i)
        for i, s in enumerate(states):  # devices make progress
            if s in IN_FLIGHT and rnd.random() < 0.5:
                states[i] = "rolled_back" if rnd.random() < fail_rate else "healthy"
        for i in range(n):
            if not online[i] and rnd.random() < 0.2:
                online[i] = True
    # the first stage is always exactly one device, alone
    if sent_order:
        assert sent_order[0] == 0


@pytest.fixture
def db(tmp_path: Path):
    d = Database(DatabaseSettings(url=f"sqlite:///{tmp_path}/t.db"))
    upgrade(d.engine)
    yield d
    d.dispose()


def _release(tmp_path: Path, db: Database, version: str) -> UpdateConfig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    keygen(tmp_path / "k", tmp_path / "k.pub")
    (tmp_path / "src" / "linli").mkdir(parents=True)
    (tmp_path / "src" / "linli" / "__init__.py").write_text("")
    cfg = UpdateConfig(release_dir=tmp_path / "releases", public_key=(tmp_path / "k.pub").read_bytes(),
                       base_url="http://127.0.0.1:1", step_timeout_s=600)
    archive = pack_source(tmp_path / "src", version)
    store_release(db, cfg, archive, sign(archive, version, load_private(tmp_path / "k")), "admin")
    return cfg


def _answer(registry: HandlerRegistry, db: Database, dev: Device, etype: str, data: dict) -> None:
    ev = contract.Event(type=etype, data=data)
    ref = DeviceRef(dev.site, Kind(dev.kind), dev.device)
    typed = contract.parse_event_data(ref.kind, etype, data)  # as ingest hands it to the handlers
    with db.session() as s:
        ctx = IngestContext(s, ref, dev.id, utcnow())
        for fn in registry.events.find(ref.kind, etype):
            fn(ctx, ev, typed)


def test_a_hundred_device_roll_out_goes_in_stages_and_stops_at_a_bad_release(tmp_path: Path, db: Database) -> None:
    cfg = _release(tmp_path, db, "2.0.0")
    with db.session() as s:
        for i in range(100):
            s.add(Device(site="sh-a" if i < 60 else "sh-b", kind="probe", device=f"p-{i:03d}", state="online",
                         first_seen=utcnow()))
    registry = HandlerRegistry()
    register(registry)
    ro = create_rollout(db, "2.0.0", "admin", kind="probe", stages=[1, 0.1, 1.0], max_parallel=8, max_failures=2)
    seen_in_flight = 0
    rnd = random.Random(7)
    for round_ in range(200):
        state = tick(db, None, cfg)[ro.id]
        doc = progress(db, ro.id)
        in_flight = [d for d in doc["devices"] if d["state"] in IN_FLIGHT]
        seen_in_flight = max(seen_in_flight, len(in_flight))
        assert len(in_flight) <= 8
        done = sum(d["state"] in OK for d in doc["devices"])
        # staging: nobody beyond device 1 before device 1 is healthy, nobody beyond 10 before the first 10 are
        touched = [i for i, d in enumerate(doc["devices"]) if d["state"] != "waiting"]
        if touched:
            assert max(touched) < (1 if done < 1 else 10 if done < 10 else 100)
        if state != "running":
            break
        with db.session() as s:
            devs = {d.device: d for d in s.query(Device)}
            for d in devs.values():
                s.expunge(d)
        for d in in_flight:
            dev = devs[d["device"]]
            if d["state"] == "sent":
                _answer(registry, db, dev, "update.progress", {"version": "2.0.0", "step": "downloading",
                                                               "rollout": ro.id})
            elif rnd.random() < 0.6:
                _answer(registry, db, dev, "update.healthy", {"version": "2.0.0", "rollout": ro.id})
        assert round_ < 199
    assert state == "done" and seen_in_flight == 8
    assert progress(db, ro.id)["counts"] == {"healthy": 100}

    # a bad release: the first device rolls back, the roll-out halts before anyone else gets it
    cfg2 = _release(tmp_path / "v3", db, "3.0.0")
    ro3 = create_rollout(db, "3.0.0", "admin", kind="probe", stages=[1, 0.1, 1.0], max_parallel=8, max_failures=1)
    tick(db, None, cfg2)
    with db.session() as s:
        first = s.query(Device).filter_by(device="p-000").one()
        s.expunge(first)
    _answer(registry, db, first, "update.rolled_back", {"version": "3.0.0", "reason": "crashed", "rollout": ro3.id})
    assert tick(db, None, cfg2)[ro3.id] == "halted"
    doc = progress(db, ro3.id)
    assert doc["counts"] == {"rolled_back": 1, "waiting": 99} and "failed" in doc["reason"]


def test_a_device_that_never_answers_times_out_and_counts_as_failed(tmp_path: Path, db: Database) -> None:
    cfg = _release(tmp_path, db, "2.0.0")
    with db.session() as s:
        s.add(Device(site="sh-a", kind="probe", device="p-1", state="online", first_seen=utcnow()))
    ro = create_rollout(db, "2.0.0", "admin", stages=[1.0], max_failures=1)
    tick(db, None, cfg)
    assert tick(db, None, cfg, now=utcnow() + timedelta(seconds=601))[ro.id] == "halted"
    with db.session() as s:
        assert s.get(RolloutDevice, (ro.id, 1)).state == "timeout"
