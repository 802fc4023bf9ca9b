"""The second stage: a site-trained crop classifier (:mod:`linli.liftcls`) that refines a track's class.

It looks at the detector's *candidate* tracks only (model labels in ``candidates``: by default the two-wheelers
and COCO ``suitcase`` / ``handbag`` / ``backpack`` as battery candidates), at most ``max_crops`` a frame, and keeps
per track the summed class probabilities of its crops and how often each class came out on top. The track's class
then follows these rules (after Frigate 0.17's object classification: a threshold, several attempts, agreement):

- **not settled** until ``min_crops`` crops were classified: the detector-only rule decides (so a fast e-bike is
  blocked exactly as without the classifier);
- **settled** on the class ``c`` with the highest mean probability when that mean is ≥ ``min_prob`` and ``c`` was
  the top class of ≥ ``agreement`` of the crops;
- a track the detector rule calls acting (an e-bike) takes a settled class that does **not** act (bicycle,
  stroller, wheelchair, cart, other) — the exemption — only if the acting classes' mean probability together is
  below ``1 - min_prob``; a track the detector rule calls non-acting (a bag, or a two-wheeler a site mapped to
  ``bicycle``) takes a settled class that acts (battery, e-bike);
- whether the final class acts is still the class map's ``acting`` list: the classifier names the object, the map
  says what blocks.

So the classifier can only exempt an object it is sure of, several crops running, and it never delays a block:
without a verdict the detector's class stands.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.vision.tracker import Track
from linli.liftcls import Classifier, FeatureExtractor, crop

log = logging.getLogger(__name__)

#: COCO labels the classifier looks at by default.
DEFAULT_CANDIDATES = ["bicycle", "motorcycle", "suitcase", "handbag", "backpack"]
#: COCO labels that only become tracks when a classifier is loaded (battery candidates).
BAG_LABELS = ("suitcase", "handbag", "backpack")


class SecondStageConfig(BaseModel):
    """How the classifier's opinion is used (the file itself comes with ``classifier``)."""

    model_config = ConfigDict(extra="forbid")
    candidates: list[str] = Field(default_factory=lambda: list(DEFAULT_CANDIDATES), title="Candidate labels",
                                  description="Model labels whose boxes the classifier looks at.")
    bag_class: str = Field("other", title="Class of bag candidates",
                           description="Lift class given to suitcase / handbag / backpack boxes before the classifier "
                           "speaks (not acting: only a battery verdict makes them block).")
    min_crops: int = Field(2, ge=1, le=50, title="Crops before a verdict",
                           description="The classifier's verdict counts after this many crops of the object.")
    min_prob: float = Field(0.8, ge=0.5, le=0.999, title="Verdict probability",
                            description="Mean probability the verdict's class needs (Frigate: 0.8).")
    agreement: float = Field(0.6, ge=0.0, le=1.0, title="Agreement",
                             description="Share of crops that must have the verdict's class on top (Frigate: 60 %).")
    max_crops: int = Field(3, ge=1, le=20, title="Crops per frame",
                           description="At most this many candidate boxes are classified in one frame.")


class SecondStage:
    """A loaded classifier and its extractor, applied to the tracks of each detected frame."""

    def __init__(self, cfg: SecondStageConfig, classifier: Classifier, extractor: FeatureExtractor,
                 acting: Iterable[str]) -> None:
        self.cfg = cfg
        self.classifier = classifier
        self.extractor = extractor
        self.acting = frozenset(acting)
        self.candidates = frozenset(cfg.candidates)
        self.crops_run = 0

    @property
    def version(self) -> str:
        return self.classifier.version

    def observe(self, image: np.ndarray, tracks: Iterable[Track], ts: float) -> None:
        """Classify the crops of candidate tracks seen in this frame (the most recently unclassified first)."""
        seen = [t for t in tracks if t.missed == 0 and t.last_ts == ts and t.label in self.candidates]
        seen.sort(key=lambda t: t.crops)
        for t in seen[:self.cfg.max_crops]:
            c = crop(image, t.box)
            if c is None:
                continue
            probs = self.classifier.probs(self.extractor.features(c))
            self.crops_run += 1
            t.crops += 1
            t.crop = c
            for k, v in probs.items():
                t.votes[k] = t.votes.get(k, 0.0) + v
            top = max(probs, key=lambda k: probs[k])
            t.agree[top] = t.agree.get(top, 0) + 1

    def settled(self, t: Track) -> str | None:
        """The class the crops agree on, or None."""
        if t.crops < self.cfg.min_crops or not t.votes:
            return None
        c = max(t.votes, key=lambda k: t.votes[k])
        if t.votes[c] / t.crops < self.cfg.min_prob - 1e-9 or t.agree.get(c, 0) / t.crops < self.cfg.agreement - 1e-9:
            return None
        return c

    def refine(self, t: Track, detector_cls: str) -> str:
        """The track's class given the detector rule's class (see the module docstring)."""
        v = self.settled(t)
        t.verdict = v
        if v is None or v == detector_cls:
            return detector_cls
        was_acting, now_acting = detector_cls in self.acting, v in self.acting
        if was_acting and not now_acting:
            acting_mass = sum(m for k, m in t.votes.items() if k in self.acting) / t.crops
            return v if acting_mass < 1 - self.cfg.min_prob - 1e-9 else detector_cls
        if not was_acting and now_acting:
            return v
        return detector_cls if was_acting else v
