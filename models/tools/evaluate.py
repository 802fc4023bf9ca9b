#!/usr/bin/env python3
"""Precision and recall per lift class, and a confusion table, for a detector + class map on labelled images.

    python models/tools/evaluate.py --yolo DIR [--names classes.txt]      # images + <stem>.txt (YOLO)
    python models/tools/evaluate.py --coco annotations.json --images DIR  # COCO json
    python models/tools/evaluate.py --packaged [--darknet-dir DIR]        # photos shipped in packages
    python models/tools/evaluate.py --scenes                              # generated lift-car scenes

The detector and class map come from a device config (``--config config/lift_guard.yaml``; default: the built-in
default model and map). Ground-truth names (COCO-style names such as ``motorcycle``, or lift classes such as
``ebike``) go through the same class map, so an evaluation answers "does the model + map find the lift class".
A prediction matches a ground-truth box of its class at IoU >= ``--iou`` (greedy, best score first); scores below
``--score`` (default: the config's confirm score) are not counted. Region masks and N-of-M confirmation are not
applied: this measures single frames. ``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from edge.apps.lift_guard.config import LIFT_CLASSES, LiftGuardConfig  # noqa: E402
from edge.vision import ClassMap, Detection, dedupe, iou, load_detector  # noqa: E402

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")
MISSED = "(missed)"
BACKGROUND = "(background)"


@dataclass
class Sample:
    name: str
    image: np.ndarray
    truth: list[tuple[str, tuple[float, float, float, float]]]  # (name, box x1 y1 x2 y2 pixels)


@dataclass
class Tally:
    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    gt: Counter[str] = field(default_factory=Counter)
    confusion: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    images: int = 0


# ------------------------------------------------------------------------------------------ loading
def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"evaluate: cannot read image {path}")
    return img


def load_yolo(folder: Path, names_file: Path | None) -> list[Sample]:
    names_path = names_file or next((p for p in (folder / "classes.txt", folder / "obj.names") if p.exists()), None)
    if names_path is None:
        raise SystemExit(f"evaluate: {folder}: no classes.txt (give --names)")
    names = [ln.strip() for ln in names_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    out = []
    for img_path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXT):
        img = _read(img_path)
        h, w = img.shape[:2]
        truth = []
        lbl = img_path.with_suffix(".txt")
        for n, line in enumerate(lbl.read_text(encoding="utf-8").splitlines() if lbl.exists() else [], 1):
            parts = line.split()
            if not parts:
                continue
            try:
                c, cx, cy, bw, bh = int(parts[0]), *(float(x) for x in parts[1:5])
                name = names[c]
            except (ValueError, IndexError):
                raise SystemExit(f"evaluate: {lbl}:{n}: not 'class cx cy w h' with a known class: {line!r}") from None
            truth.append((name, ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)))
        out.append(Sample(img_path.name, img, truth))
    return out


def load_coco(ann: Path, images: Path) -> list[Sample]:
    doc = json.loads(ann.read_text(encoding="utf-8"))
    cats = {c["id"]: c["name"] for c in doc.get("categories", [])}
    by_img: dict[int, list[tuple[str, tuple[float, float, float, float]]]] = defaultdict(list)
    for a in doc.get("annotations", []):
        x, y, w, h = a["bbox"]
        by_img[a["image_id"]].append((cats[a["category_id"]], (x, y, x + w, y + h)))
    return [Sample(im["file_name"], _read(images / im["file_name"]), by_img.get(im["id"], []))
            for im in doc.get("images", [])]


def load_packaged(darknet_dir: Path) -> list[Sample]:
    spec = yaml.safe_load((REPO / "models" / "eval" / "packaged.yaml").read_text(encoding="utf-8"))
    roots: dict[str, Path | None] = {"darknet": darknet_dir if darknet_dir.exists() else None}
    try:
        import skimage.data

        roots["skimage"] = Path(skimage.data.__file__).parent
    except ImportError:
        roots["skimage"] = None
    out, skipped = [], set()
    for item in spec["images"]:
        where, name = item["source"].split(":", 1)
        root = roots.get(where)
        if root is None or not (root / name).exists():
            skipped.add(where)
            continue
        out.append(Sample(item["source"], _read(root / name),
                          [(o["name"], tuple(o["box"])) for o in item["objects"]]))
    for where in sorted(skipped):
        print(f"note: {where} photos not found (see models/eval/packaged.yaml for how to get them); skipped")
    return out


def load_scenes(step: int) -> list[Sample]:
    from edge.apps.lift_guard.scenes import ClipPainter
    from edge.apps.lift_guard.scenes import load_scenes as read_scenes
    from edge.apps.lift_guard.sim import SCENES

    scenes = read_scenes(SCENES)
    out = []
    for clip_name in ("demo", "bike_in_out", "person_only", "flapping", "empty"):
        painter = ClipPainter(scenes.clips[clip_name], scenes.fps, (scenes.width, scenes.height))
        for i in range(0, painter.frames, step):
            img = painter.frame(i).copy()
            truth = [(sprite, tuple(float(v) for v in box)) for sprite, box in painter.truth.get(i, [])]
            out.append(Sample(f"{clip_name}#{i}", img, truth))  # type: ignore[arg-type]
    return out


# ------------------------------------------------------------------------------------------ scoring
def to_class(name: str, classes: ClassMap) -> str | None:
    if name in classes.cfg.map:
        return classes.cfg.map[name]
    return name if name in LIFT_CLASSES else None


def score(samples: list[Sample], det: Any, classes: ClassMap, thr: float, min_iou: float) -> Tally:
    t = Tally()
    for smp in samples:
        t.images += 1
        preds: list[Detection] = [d for d in dedupe(classes.apply(det.detect(smp.image))) if d.score >= thr]
        gts = [(c, box) for name, box in smp.truth if (c := to_class(name, classes)) is not None]
        for c, _ in gts:
            t.gt[c] += 1
        used_gt: set[int] = set()
        for p in sorted(preds, key=lambda d: d.score, reverse=True):
            best, best_iou = None, min_iou
            for gi, (c, box) in enumerate(gts):
                if gi in used_gt or c != p.cls:
                    continue
                v = iou(p.box, box)
                if v >= best_iou:
                    best, best_iou = gi, v
            if best is None:
                t.fp[p.cls or "?"] += 1
            else:
                used_gt.add(best)
                t.tp[p.cls or "?"] += 1
        for gi, (c, box) in enumerate(gts):
            if gi not in used_gt:
                t.fn[c] += 1
            # confusion: what the best-overlapping prediction (any class) said about this object
            over = max(((iou(p.box, box), p.cls or "?") for p in preds), default=(0.0, MISSED))
            t.confusion[c][over[1] if over[0] >= min_iou else MISSED] += 1
        for p in preds:
            if all(iou(p.box, box) < min_iou for _, box in gts):
                t.confusion[BACKGROUND][p.cls or "?"] += 1
    return t


def report(title: str, t: Tally) -> dict[str, Any]:
    classes = sorted(set(t.gt) | set(t.tp) | set(t.fp))
    print(f"\n{title}: {t.images} images")
    print(f"  {'class':<12}{'objects':>8}{'TP':>6}{'FP':>6}{'FN':>6}{'precision':>11}{'recall':>8}")
    rows = {}
    for c in classes:
        tp, fp, fn = t.tp[c], t.fp[c], t.fn[c]
        prec = tp / (tp + fp) if tp + fp else None
        rec = tp / (tp + fn) if tp + fn else None
        rows[c] = {"objects": t.gt[c], "tp": tp, "fp": fp, "fn": fn, "precision": prec, "recall": rec}
        fmt = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
        print(f"  {c:<12}{t.gt[c]:>8}{tp:>6}{fp:>6}{fn:>6}{fmt(prec):>11}{fmt(rec):>8}")
    cols = [*sorted({k for row in t.confusion.values() for k in row} - {MISSED}), MISSED]
    print("  confusion (rows: truth, columns: what the model said):")
    print("  " + f"{'':<14}" + "".join(f"{c:>13}" for c in cols))
    for r in sorted(t.confusion, key=lambda x: (x == BACKGROUND, x)):
        print("  " + f"{r:<14}" + "".join(f"{t.confusion[r].get(c, 0):>13}" for c in cols))
    return {"images": t.images, "classes": rows, "confusion": {r: dict(v) for r, v in t.confusion.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--yolo", type=Path, help="folder of images with YOLO .txt labels")
    src.add_argument("--coco", type=Path, help="COCO annotations json (with --images)")
    src.add_argument("--packaged", action="store_true", help="photos shipped in scikit-image and Debian darknet")
    src.add_argument("--scenes", action="store_true", help="generated lift-car scenes (ground truth known)")
    ap.add_argument("--images", type=Path, help="image folder for --coco")
    ap.add_argument("--names", type=Path, help="class names for --yolo (default DIR/classes.txt)")
    ap.add_argument("--darknet-dir", type=Path, default=Path("/usr/share/darknet/data"))
    ap.add_argument("--config", type=Path, help="device YAML whose app.detector and app.classes to evaluate")
    ap.add_argument("--score", type=float, help="least score counted (default: the config's confirm score)")
    ap.add_argument("--iou", type=float, default=0.5)
    ap.add_argument("--step", type=int, default=2, help="--scenes: use every N-th frame")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    if args.config:
        doc = yaml.safe_load(args.config.read_text(encoding="utf-8"))
        app = doc.get("app", {}) if isinstance(doc, dict) else {}
        cfg = LiftGuardConfig.model_validate({k: app[k] for k in ("detector", "classes", "confirm") if k in app})
    else:
        cfg = LiftGuardConfig()
    thr = args.score if args.score is not None else cfg.confirm.threshold
    if args.yolo:
        samples, title = load_yolo(args.yolo, args.names), str(args.yolo)
    elif args.coco:
        if args.images is None:
            raise SystemExit("evaluate: --coco needs --images")
        samples, title = load_coco(args.coco, args.images), str(args.coco)
    elif args.packaged:
        samples, title = load_packaged(args.darknet_dir), "photos from packages"
    else:
        samples, title = load_scenes(args.step), "generated lift-car scenes"
    if not samples:
        raise SystemExit("evaluate: no images")
    det = load_detector(cfg.detector)
    tally = score(samples, det, ClassMap(cfg.classes), thr, args.iou)
    out = report(f"{title} · {det.version} · score >= {thr:g} · IoU >= {args.iou:g}", tally)
    if args.json:
        args.json.write_text(json.dumps({"title": title, "model": det.version, "score": thr, **out}, indent=2,
                                        ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
