"""The site classifier on the server, the cases the end-to-end test does not walk: too few labels is a failed run
with the reason (nothing to deploy), labels and figures stay on their site, deploy keeps a lift's other config
overrides, rollback is ``classifier: null`` on every lift of the site, the file is served by its SHA-256 only,
and the roles (a manager labels and trains, maintenance/admin deploy)."""

from __future__ import annotations

from collections.abc import Callable

from ulid import ULID

from linli.contract import lift_guard as lev
from linli.liftcls import sha256_of
from linli.testing import wait_for
from server.db.models import Device, DeviceConfig
from server.lift_guard.models import LiftClassifier
from server.testing import DeviceSim, jbody
from tests.server.lift_guard.conftest import SITE, LiftServer
from tests.server.lift_guard.test_lift_server import block_data, jpeg


def test_too_few_labels_fail_with_the_reason_and_deploy_and_rollback_reach_every_lift(
        lift_server: LiftServer, lift_device: Callable[[str], DeviceSim]) -> None:
    ls = lift_server.ls
    l1, l2 = lift_device("l1"), lift_device("l2")
    bid = str(ULID())
    snap, cut = l1.blob(jpeg(1)), l1.blob(jpeg(2))
    ev = l1.event(lev.BLOCK, severity="warning", data=block_data(bid, crop=True), blobs=[snap, cut])
    lift_server.stored(ev.id)
    assert lift_server.block(bid).crop == cut  # type: ignore[union-attr]
    l2.telemetry()
    with ls.client("manager") as c:
        r = c.put(f"/api/v1/lift_guard/devices/{SITE}/{l1.ref.device}/blocks/{bid}/label", json={"label": "bicycle"})
        assert r.status_code == 204
        other = c.put(f"/api/v1/lift_guard/devices/{SITE}/{l2.ref.device}/blocks/{bid}/label",
                      json={"label": "bicycle"})
        assert other.status_code == 404  # the block is not that lift's
        r = c.post(f"/api/v1/lift_guard/sites/{SITE}/classifiers")
        assert r.status_code == 202 and jbody(r)["state"] in ("queued", "training", "failed")
        mid = jbody(r)["id"]
        done = wait_for(lambda: next((m for m in jbody(c.get(f"/api/v1/lift_guard/sites/{SITE}/classifiers"))
                                      if m["id"] == mid and m["state"] == "failed"), None), 30, what="a failed run")
        assert "at least 3 labelled crops of each of two classes" in done["error"] and "bicycle 1" in done["error"]
        page = c.get(f"/lift_classifier/{SITE}")
        assert "训练失败" in page.text and "自行车 1" in page.text
    with ls.client("maint") as c:
        assert c.post(f"/api/v1/lift_guard/sites/{SITE}/classifiers/{mid}/deploy").status_code == 409
    # a trained file (as the worker stores it), a lift with another override of its own
    body = b'{"format":"linli-lift-classifier/1"}'
    with ls.server.db.session() as s:
        row = LiftClassifier(site=SITE, version=f"{SITE}-v9", state="ready", created_at=ULID().datetime,
                             created_by="manager", sha256=sha256_of(body), size=len(body), body=body, metrics={})
        s.add(row)
        s.flush()
        ready = row.id
    with ls.client("admin") as c:
        r = c.put(f"/api/v1/devices/{SITE}/lift_guard/{l1.ref.device}/config", json={"overrides": {"max_hold_s": 90}})
        assert r.status_code == 202, r.text
    with ls.client("manager") as c:
        assert c.post(f"/api/v1/lift_guard/sites/{SITE}/classifiers/{ready}/deploy").status_code == 403
    with ls.client("maint") as c:
        out = jbody(c.post(f"/api/v1/lift_guard/sites/{SITE}/classifiers/{ready}/deploy"))
        assert sorted(x["device"] for x in out["lifts"]) == sorted([l1.ref.device, l2.ref.device])
    with ls.server.db.session() as s:
        cfgs = {d.device: s.get(DeviceConfig, d.id).desired_overrides  # type: ignore[union-attr]
                for d in s.query(Device).filter(Device.site == SITE, Device.kind == "lift_guard")}
    assert cfgs[l1.ref.device]["max_hold_s"] == 90
    assert cfgs[l1.ref.device]["classifier"]["sha256"] == sha256_of(body)
    url = cfgs[l2.ref.device]["classifier"]["url"]
    assert url.endswith(f"/classifiers/lift-{sha256_of(body)}.json")
    with ls.client(None) as c:  # what the lift downloads: by hash, no account
        assert c.get(f"/classifiers/lift-{sha256_of(body)}.json").content == body
        assert c.get(f"/classifiers/lift-{'0' * 64}.json").status_code == 404
        assert c.get("/classifiers/lift-x.json").status_code == 404
    with ls.client("maint") as c:
        assert c.post(f"/api/v1/lift_guard/sites/{SITE}/classifier/rollback").status_code == 200
        models = jbody(c.get(f"/api/v1/lift_guard/sites/{SITE}/classifiers"))
        assert all(m["deployed_at"] is None for m in models)
    with ls.server.db.session() as s:
        cfgs = {d.device: s.get(DeviceConfig, d.id).desired_overrides  # type: ignore[union-attr]
                for d in s.query(Device).filter(Device.site == SITE, Device.kind == "lift_guard")}
    assert all(c["classifier"] is None for c in cfgs.values()) and cfgs[l1.ref.device]["max_hold_s"] == 90
    with ls.client("east") as c:  # a manager of another site sees none of it
        assert c.get(f"/api/v1/lift_guard/sites/{SITE}/classifiers").status_code == 404
        assert c.get(f"/lift_classifier/{SITE}").status_code == 404
