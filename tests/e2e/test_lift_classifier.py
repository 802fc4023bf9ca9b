"""The site-trained second stage end to end, through real HTTP, the real broker and a real lift agent:

a lift (detector only) blocks a pedal bicycle and an e-bike → their crops reach the server with the blocks →
a property manager labels snapshots with one click (API and the gallery's form), with more labelled crops of
earlier blocks → training runs in the server's background worker → the per-class held-out figures are on the
page before anything is deployed → an admin deploys → the lift downloads the file, checks its SHA-256, loads it
and reports the version → the bicycle no longer blocks while the e-bike still does → one-click rollback → the lift
is back on the detector-only rule. A corrupt file on the same path is refused and reported, detector only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from edge.runtime.harness import AgentFactory
from linli.broker import free_port
from linli.contract import lift_guard as lev
from linli.contract import new_id
from linli.testing import TestBroker, wait_for
from server.app import create_app
from server.db.models import Event
from server.lift_guard.models import LiftBlock
from server.testing import LiveServer, jbody, make_settings
from tests.edge.apps.lift_guard.conftest import LiftFactory

SITE = "t-lift-cls"
FLOOR = [[0.0, 1.0], [0.0, 0.62], [0.26, 0.5], [0.74, 0.5], [1.0, 0.62], [1.0, 1.0]]


@pytest.fixture
def env(mqtt_broker: TestBroker, tmp_path: Path) -> Iterator[dict[str, Any]]:
    port = free_port()
    settings = make_settings(tmp_path / "srv", f"sqlite:///{tmp_path / 'srv.db'}", mqtt_broker,
                             updates={"base_url": f"http://127.0.0.1:{port}"})
    factory = AgentFactory(mqtt_broker, tmp_path / "agents", site=SITE, kind="lift_guard", n=1)
    lifts = LiftFactory(factory)
    ls = LiveServer(create_app(settings), port).start()
    try:
        yield {"ls": ls, "lifts": lifts}
    finally:
        lifts.close()
        ls.stop()
        if ls.server.link is not None:
            ls.server.link.forget_session()


def _blocks(ls: LiveServer) -> list[LiftBlock]:
    with ls.server.db.session() as s:
        rows = list(s.scalars(select(LiftBlock).order_by(LiftBlock.started_at)))
        for r in rows:
            s.expunge(r)
        return rows


def _classifier_events(ls: LiveServer) -> list[dict[str, Any]]:
    with ls.server.db.session() as s:
        return [e.data for e in s.scalars(select(Event).where(Event.type == lev.CLASSIFIER).order_by(Event.id))]


def _seed(agent: Any, label: str, n: int, seed: int) -> None:
    """Blocks of earlier days with their crops, as the lift sends them (the same agent, outbox and broker)."""
    from edge.apps.lift_guard.drawn import labelled_crops
    from edge.vision import to_jpeg

    for _, crop in labelled_crops(n, seed=seed, classes=(label,)):
        agent.emit(lev.BlockStarted(block_id=new_id(), cls="ebike", label="seed", score=0.9, scores=[0.9],
                                    track_s=1.0, latency_ms=300.0, seen_ms=400.0, objects=[], model="seed",
                                    relay=True, crop=True), [to_jpeg(crop, 70), to_jpeg(crop, 85)])


def test_label_train_check_deploy_and_the_bicycle_gets_in_while_the_ebike_is_still_blocked(
        env: dict[str, Any], tmp_path: Path) -> None:
    from edge.apps.lift_guard.scenes import load_scenes, write_clip
    from edge.apps.lift_guard.sim import SCENES

    clip = write_clip(tmp_path / "mix.mp4", load_scenes(SCENES).clips["bicycle_then_ebike_short"], 10.0, (320, 240))
    ls: LiveServer = env["ls"]
    lift = env["lifts"].make(Path(clip), loop=True, region={"floor": FLOOR})
    a = lift.agent
    dev = a.ref.device
    assert a.app.gauges()["classifier_state"] == "off"

    # 1. detector only: the bicycle blocks like an e-bike; both arrive with their crops
    wait_for(lambda: {b.label for b in _blocks(ls) if b.crop} >= {"bicycle", "motorcycle"}, 40,
             what="a bicycle block and an e-bike block with crops at the server")
    first = _blocks(ls)
    assert all(b.cls == "ebike" and b.classifier is None for b in first)

    # 2. labels: the real blocks by one click each (API and page form), plus labelled crops of earlier blocks
    _seed(a, "bicycle", 7, seed=3)
    _seed(a, "ebike", 7, seed=4)
    _seed(a, "other", 5, seed=5)
    wait_for(lambda: sum(1 for b in _blocks(ls) if b.label == "seed" and b.crop) == 19, 30, what="seeded blocks")
    with ls.client("manager") as c:
        for b in _blocks(ls):
            truth = {"bicycle": "bicycle", "motorcycle": "ebike"}.get(b.label or "")
            if b.label == "seed":
                continue  # labelled below from what was seeded
            r = c.put(f"/api/v1/lift_guard/devices/{SITE}/{dev}/blocks/{b.block_id}/label", json={"label": truth})
            assert r.status_code == 204, r.text
        r = c.put(f"/api/v1/lift_guard/devices/{SITE}/{dev}/blocks/{first[0].block_id}/label",
                  json={"label": "spaceship"})
        assert r.status_code == 422
    seeded = [b for b in _blocks(ls) if b.label == "seed"]
    kinds = ["bicycle"] * 7 + ["ebike"] * 7 + ["other"] * 5
    with ls.client("manager") as c:
        page = c.get(f"/lift_guard/{SITE}/{dev}")
        assert page.status_code == 200 and 'name="label" value="bicycle"' in page.text and "误报" in page.text
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        for b, label in zip(seeded, kinds, strict=True):
            r = c.post(f"/lift_guard/{SITE}/{dev}/label", data={"csrf": csrf, "block_id": b.block_id,
                                                                "label": label}, follow_redirects=False)
            assert r.status_code == 303 and "label_saved" in r.headers["location"]
    with ls.client("maint") as c:  # maintenance may not see snapshots, so may not label them
        r = c.put(f"/api/v1/lift_guard/devices/{SITE}/{dev}/blocks/{first[0].block_id}/label",
                  json={"label": "bicycle"})
        assert r.status_code == 403

    # 3. training in the background; the held-out figures are there before anyone deploys
    with ls.client("manager") as c:
        r = c.post(f"/api/v1/lift_guard/sites/{SITE}/classifiers")
        assert r.status_code == 202, r.text
        model_id = jbody(r)["id"]
        ready = wait_for(lambda: next((m for m in jbody(c.get(f"/api/v1/lift_guard/sites/{SITE}/classifiers"))
                                       if m["id"] == model_id and m["state"] in ("ready", "failed")), None),
                         60, what="training done")
        assert ready["state"] == "ready", ready["error"]
        assert ready["deployed_at"] is None and set(ready["classes"]) == {"ebike", "bicycle", "other"}
        figures = {m["cls"]: m for m in ready["heldout"]}
        assert figures["bicycle"]["support"] >= 1 and figures["ebike"]["recall"] is not None
        page = c.get(f"/lift_classifier/{SITE}")
        assert page.status_code == 200 and "召回率" in page.text and 'data-cls="bicycle"' in page.text
        assert c.post(f"/api/v1/lift_guard/sites/{SITE}/classifiers/{model_id}/deploy").status_code == 403

    # 4. deploy: the lift downloads, checks and loads it, and says so
    with ls.client("admin") as c:
        r = c.post(f"/api/v1/lift_guard/sites/{SITE}/classifiers/{model_id}/deploy")
        assert r.status_code == 200, r.text
        out = jbody(r)
        assert out["lifts"][0]["device"] == dev and out["lifts"][0]["published"]
    version = f"{ready['version']}@{ready['sha256'][:12]}"
    wait_for(lambda: a.app.gauges()["classifier"] == version, 30, what="the lift runs the classifier")
    wait_for(lambda: any(e.get("state") == "loaded" and e.get("version") == version for e in _classifier_events(ls)),
             15, what="lift.classifier loaded at the server")
    loaded_at = len(_blocks(ls))

    # 5. its decisions change: the next e-bike is blocked (with the classifier), the bicycle is not
    def after() -> list[LiftBlock]:
        return [b for b in _blocks(ls)[loaded_at:] if b.label != "seed"]

    wait_for(lambda: any(b.label == "motorcycle" and b.classifier == version for b in after()), 40,
             what="the e-bike blocked with the classifier running")
    wait_for(lambda: sum(1 for b in after() if b.label == "motorcycle" and b.classifier == version) >= 2, 40,
             what="a second e-bike pass (a bicycle pass in between)")
    bicycles = [b for b in after() if b.label == "bicycle" and b.classifier == version]
    assert not bicycles, f"the bicycle still blocked: {[(b.cls, b.label) for b in bicycles]}"
    assert a.app.gauges()["classifier_crops"] > 0

    # 6. one-click rollback: detector only again
    with ls.client("admin") as c:
        page = c.get(f"/lift_classifier/{SITE}")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        r = c.post(f"/lift_classifier/{SITE}/rollback", data={"csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303
    wait_for(lambda: a.app.gauges()["classifier_state"] == "off", 15, what="the lift back on detector only")
    wait_for(lambda: any(e.get("state") == "off" for e in _classifier_events(ls)), 15, what="lift.classifier off")
