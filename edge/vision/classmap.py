"""Model labels → the kind's own classes, and which of those classes act (block, alarm, open…).

A site can drop in a fine-tuned model with other label names and only change this map. Labels not in the map
are ignored (never tracked). A *veto* class (e.g. ``wheelchair``) overlapping an acting detection cancels it: a
model that knows both and sees both in the same place is more likely looking at the harmless one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.vision.detection import Detection, iou


class ClassMapConfig(BaseModel):
    """Which model labels mean which of the kind's classes, and which classes act."""

    model_config = ConfigDict(extra="forbid")

    map: dict[str, str] = Field(
        title="Label → class",
        description="Model label (as in the labels file, e.g. motorcycle) → class of this kind (e.g. ebike).")
    acting: list[str] = Field(title="Acting classes",
                              description="Classes that trigger the kind's action (for a lift guard: block).")
    veto: list[str] = Field(default_factory=list, title="Veto classes",
                            description="Classes that cancel an acting detection they overlap (e.g. wheelchair).")
    veto_iou: float = Field(0.5, gt=0, le=1, title="Veto overlap (IoU)",
                            description="Overlap at which a veto class cancels an acting detection.")
    families: dict[str, list[str]] = Field(
        default_factory=dict, title="Class families",
        description="Classes that one object may be given in different frames (e.g. two_wheeler: [ebike, "
        "bicycle]): they share one track, whose class is decided from the score mass of each (see confirm).")

    @model_validator(mode="after")
    def _consistent(self) -> ClassMapConfig:
        classes = set(self.map.values())
        missing = [c for c in self.acting if c not in classes]
        if missing:
            raise ValueError(f"acting class(es) {', '.join(missing)} are not the target of any label in map "
                             f"(targets: {', '.join(sorted(classes)) or 'none'})")
        seen: dict[str, str] = {}
        for fam, members in self.families.items():
            for c in members:
                if c in seen:
                    raise ValueError(f"class {c} is in two families ({seen[c]}, {fam})")
                seen[c] = fam
        both = set(self.acting) & set(self.veto)
        if both:
            raise ValueError(f"class(es) {', '.join(sorted(both))} cannot be both acting and veto")
        return self

    def check_classes(self, allowed: Iterable[str]) -> None:
        """Raise ValueError when a target, acting or veto class is not one of ``allowed`` (the kind's vocabulary)."""
        allowed = set(allowed)
        used = set(self.map.values()) | set(self.acting) | set(self.veto)
        used |= {c for members in self.families.values() for c in members}
        bad = sorted(used - allowed)
        if bad:
            raise ValueError(f"unknown class(es) {', '.join(bad)} (allowed: {', '.join(sorted(allowed))})")


class ClassMap:
    def __init__(self, cfg: ClassMapConfig) -> None:
        self.cfg = cfg
        self.acting = frozenset(cfg.acting)
        self.veto = frozenset(cfg.veto)
        self.families = {c: fam for fam, members in cfg.families.items() for c in members}

    def unknown_labels(self, model_labels: Iterable[str]) -> list[str]:
        """Labels of the map that the model does not have (typos such as ``motorbike`` for ``motorcycle``)."""
        have = set(model_labels)
        return sorted(lb for lb in self.cfg.map if lb not in have)

    def apply(self, dets: Sequence[Detection]) -> list[Detection]:
        """Mapped detections (unmapped labels dropped), acting ones overlapped by a veto class removed."""
        mapped = [d.with_cls(self.cfg.map[d.label]) for d in dets if d.label in self.cfg.map]
        vetoes = [d for d in mapped if d.cls in self.veto]
        if not vetoes:
            return mapped
        return [d for d in mapped
                if d.cls not in self.acting or all(iou(d.box, v.box) < self.cfg.veto_iou for v in vetoes)]

    def is_acting(self, cls: str | None) -> bool:
        return cls in self.acting
