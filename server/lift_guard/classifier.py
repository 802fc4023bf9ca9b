"""The site-trained second stage on the server: labels, training, held-out figures, deploy and rollback.

- **Labels.** A property manager labels a block's snapshot with one click (:data:`LABELS`; "false alarm" is
  ``other``). The label belongs to the block, so to its lift and site; a new click replaces it.
- **Training** (:class:`ClassifierTrainer`, the lift guard's background :class:`~server.worker.LoopWorker`): a
  request only queues a row (the page answers at once); the worker cuts nothing — the device sent the object's
  crop with the block — it computes the features of the site's labelled crops with the detector's own backbone
  (:mod:`linli.liftcls`, CPU, ~15-50 ms a crop), holds a quarter of each class out, trains a logistic regression on
  the rest (well under a second for hundreds of crops) and stores the file with the per-class precision and recall
  on the held-out crops. Nothing is deployed by training.
- **Deploy** (admin or maintenance, audited): the file's address and SHA-256 go into every lift guard of the site
  as ``classifier: {version, sha256, url}`` in its desired config (retained on the broker: an offline lift gets it
  when it reconnects; the device checks the checksum, loads it and reports the version). The file itself is served
  at ``/classifiers/lift-<sha256>.json``.
- **Rollback**: ``classifier: null`` in the same desired config — the lifts go back to the detector-only rule.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from sqlalchemy import func, select, update

from linli.contract import Kind, utcnow
from linli.liftcls import (
    BACKBONE_SHA256,
    EXTRACTOR_ID,
    Extractor,
    FeatureExtractor,
    NotEnoughLabels,
    resolve_backbone,
    sha256_of,
    train,
)
from server.commands import get_config, set_desired_config
from server.db.models import Device
from server.worker import LoopWorker

from .models import LiftBlock, LiftClassifier, LiftLabel

if TYPE_CHECKING:
    from server.app import Server
    from server.db.engine import Database
    from server.storage import SnapshotStore

log = logging.getLogger(__name__)

#: One click each, in this order on the page. ``other`` is shown as "false alarm".
LABELS = ("ebike", "bicycle", "stroller", "wheelchair", "cart", "battery", "other")
#: Training waits at most this long for new requests between runs (a request wakes it at once).
POLL_S = 30.0
#: The most labelled crops one training run reads (the newest).
MAX_CROPS = 5000


class ClassifierActionError(ValueError):
    """A request that cannot be done (nothing trained, a classifier of another site …): the message says why."""


def set_label(db: Database, block_id: str, label: str, by: str) -> LiftLabel:
    if label not in LABELS:
        raise ClassifierActionError(f"label {label!r} is not one of {', '.join(LABELS)}")
    with db.session() as s:
        if s.get(LiftBlock, block_id) is None:
            raise ClassifierActionError(f"no block {block_id}")
        row = s.get(LiftLabel, block_id)
        if row is None:
            row = LiftLabel(block_id=block_id, label=label, by=by, at=utcnow())
            s.add(row)
        else:
            row.label, row.by, row.at = label, by, utcnow()
        s.flush()
        s.expunge(row)
        return row


def labels_of(db: Database, block_ids: list[str]) -> dict[str, str]:
    if not block_ids:
        return {}
    with db.session() as s:
        return dict(s.execute(select(LiftLabel.block_id, LiftLabel.label)
                              .where(LiftLabel.block_id.in_(block_ids))).all())


def label_counts(db: Database, site: str) -> dict[str, int]:
    """Labelled blocks with a crop, per label, on the site's lifts."""
    with db.session() as s:
        rows = s.execute(select(LiftLabel.label, func.count()).join(LiftBlock, LiftBlock.block_id == LiftLabel.block_id)
                         .join(Device, Device.id == LiftBlock.device_id)
                         .where(Device.site == site, LiftBlock.crop.is_not(None)).group_by(LiftLabel.label))
        return {lb: int(n) for lb, n in rows.all()}


def request_training(db: Database, site: str, by: str) -> LiftClassifier:
    """Queue a training run for the site (the worker picks it up). One queued or running run per site at a time."""
    with db.session() as s:
        busy = s.scalar(select(LiftClassifier).where(LiftClassifier.site == site,
                                                     LiftClassifier.state.in_(("queued", "training"))))
        if busy is not None:
            s.expunge(busy)
            return busy
        n = (s.scalar(select(func.count()).select_from(LiftClassifier).where(LiftClassifier.site == site)) or 0) + 1
        row = LiftClassifier(site=site, version=f"{site}-v{n}"[:64], state="queued", created_at=utcnow(),
                             created_by=by)
        s.add(row)
        s.flush()
        s.expunge(row)
        return row


def classifiers(db: Database, site: str, limit: int = 20) -> list[LiftClassifier]:
    with db.session() as s:
        rows = list(s.scalars(select(LiftClassifier).where(LiftClassifier.site == site)
                              .order_by(LiftClassifier.id.desc()).limit(limit)))
        for r in rows:
            s.expunge(r)
        return rows


def get_classifier(db: Database, site: str, model_id: int) -> LiftClassifier:
    with db.session() as s:
        row = s.get(LiftClassifier, model_id)
        if row is None or row.site != site:
            raise ClassifierActionError(f"no classifier {model_id} on site {site}")
        s.expunge(row)
        return row


def file_by_sha(db: Database, sha256: str) -> bytes | None:
    with db.session() as s:
        return s.scalar(select(LiftClassifier.body).where(LiftClassifier.sha256 == sha256,
                                                          LiftClassifier.state == "ready").limit(1))


def _lifts(db: Database, site: str) -> list[Device]:
    with db.session() as s:
        rows = list(s.scalars(select(Device).where(Device.site == site, Device.kind == Kind.lift_guard.value)
                              .order_by(Device.device)))
        for r in rows:
            s.expunge(r)
        return rows


def _push(srv: Server, site: str, value: dict[str, Any] | None, by: str) -> list[dict[str, Any]]:
    """``classifier: value`` into the desired config of every lift guard of the site, keeping its other overrides."""
    out = []
    for dev in _lifts(srv.db, site):
        with srv.db.session() as s:
            cur = get_config(s, dev)
            overrides = dict(cur.desired_overrides or {}) if cur is not None else {}
        overrides["classifier"] = value
        row, published = set_desired_config(srv.db, srv.link, dev, overrides, by,
                                            srv.settings.commands.publish_wait_s)
        out.append({"device": dev.device, "version": row.desired_version, "published": published})
    return out


def deploy(srv: Server, site: str, model_id: int, by: str, base_url: str) -> dict[str, Any]:
    row = get_classifier(srv.db, site, model_id)
    if row.state != "ready" or row.sha256 is None:
        raise ClassifierActionError(f"classifier {row.version} is {row.state}: only a trained one can be deployed")
    url = f"{base_url.rstrip('/')}/classifiers/lift-{row.sha256}.json"
    lifts = _push(srv, site, {"version": row.version, "sha256": row.sha256, "url": url}, by)
    with srv.db.session() as s:
        s.execute(update(LiftClassifier).where(LiftClassifier.site == site)
                  .values(deployed_at=None, deployed_by=None))
        s.execute(update(LiftClassifier).where(LiftClassifier.id == model_id)
                  .values(deployed_at=utcnow(), deployed_by=by))
    return {"version": row.version, "sha256": row.sha256, "lifts": lifts}


def rollback(srv: Server, site: str, by: str) -> dict[str, Any]:
    lifts = _push(srv, site, None, by)
    with srv.db.session() as s:
        s.execute(update(LiftClassifier).where(LiftClassifier.site == site)
                  .values(deployed_at=None, deployed_by=None))
    return {"lifts": lifts}


# ------------------------------------------------------------------------------------------------ training
class ClassifierTrainer:
    """The lift guard's background worker: trains queued classifiers, one at a time, off the request path."""

    def __init__(self, db: Database, snapshots: SnapshotStore, poll_s: float = POLL_S) -> None:
        self.db = db
        self.snapshots = snapshots
        self.loop = LoopWorker("lift-classifier-training", self.run_once, poll_s)
        self._extractor: FeatureExtractor | None = None
        self._lock = threading.Lock()
        self.trained = 0

    def start(self) -> None:
        with self.db.session() as s:  # a run cut off by a restart starts again
            s.execute(update(LiftClassifier).where(LiftClassifier.state == "training").values(state="queued"))
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()

    def kick(self) -> None:
        self.loop.wake()

    def run_once(self) -> int:
        done = 0
        while True:
            with self.db.session() as s:
                row = s.scalars(select(LiftClassifier).where(LiftClassifier.state == "queued")
                                .order_by(LiftClassifier.id).limit(1)).first()
                if row is None:
                    return done
                row.state = "training"
                model_id, site, version = row.id, row.site, row.version
            self.train_one(model_id, site, version)
            done += 1

    def _crops(self, site: str) -> list[tuple[str, bytes]]:
        with self.db.session() as s:
            rows = s.execute(select(LiftLabel.label, LiftBlock.crop)
                             .join(LiftBlock, LiftBlock.block_id == LiftLabel.block_id)
                             .join(Device, Device.id == LiftBlock.device_id)
                             .where(Device.site == site, LiftBlock.crop.is_not(None))
                             .order_by(LiftLabel.at.desc()).limit(MAX_CROPS)).all()
        out = []
        for label, sha in rows:
            try:
                out.append((label, self.snapshots.path(sha).read_bytes()))
            except (OSError, ValueError):
                continue  # purged (retention) or not arrived yet
        return out

    def train_one(self, model_id: int, site: str, version: str) -> None:
        t0 = datetime.now(UTC)
        try:
            crops = self._crops(site)
            with self._lock:
                if self._extractor is None:
                    self._extractor = FeatureExtractor(resolve_backbone())
                feats, labels = [], []
                for label, jpeg in crops:
                    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                    if img is None:
                        continue
                    feats.append(self._extractor.features(img))
                    labels.append(label)
            if not feats:
                raise NotEnoughLabels("no labelled crop of this site is stored")
            f = train(np.stack(feats), labels, site, version, Extractor(id=EXTRACTOR_ID, sha256=BACKBONE_SHA256))
            body = f.encode()
            metrics = {"classes": f.classes, "trained_on": f.trained_on,
                       "heldout": [m.model_dump() for m in f.heldout], "crops": len(labels),
                       "seconds": round((datetime.now(UTC) - t0).total_seconds(), 1)}
            with self.db.session() as s:
                s.execute(update(LiftClassifier).where(LiftClassifier.id == model_id).values(
                    state="ready", body=body, sha256=sha256_of(body), size=len(body), metrics=metrics, error=None))
            self.trained += 1
            log.info("lift classifier %s trained on %d crops (%s)", version, len(labels), ", ".join(f.classes))
        except (NotEnoughLabels, ValueError, OSError, RuntimeError) as exc:
            log.warning("lift classifier %s not trained: %s", version, exc)
            with self.db.session() as s:
                s.execute(update(LiftClassifier).where(LiftClassifier.id == model_id).values(
                    state="failed", error=str(exc)[:1000]))
