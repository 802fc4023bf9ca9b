#!/usr/bin/env python3
"""Cut the lift guard's crop feature extractor out of the committed detector (needs the ``onnx`` dev package).

    python models/tools/make_backbone.py           # writes models/ssd_mobilenet_v2_coco_quant/backbone_gap.onnx
    python models/tools/make_backbone.py --check   # rebuilds it in memory and compares with the committed file

The extractor is the detector's own MobileNetV2 backbone, from the uint8 image input up to ``Conv_1`` (1280
channels, 10x10 at 300x300), followed by a global average pool: one 1280-number feature vector per image. Same
weights, same licence (Apache-2.0, see ``models/NOTICE``); nothing is trained or downloaded. The second-stage crop
classifier (``linli.liftcls``) runs it on each candidate box's crop.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

DIR = Path(__file__).resolve().parent.parent / "ssd_mobilenet_v2_coco_quant"
SOURCE = DIR / "ssd_mobilenet_v2_coco_quant.onnx"
SOURCE_SHA256 = "4facd73b611137eeceea56be87eef5889fe3beddd130ec077b124f4772b89475"
OUT = DIR / "backbone_gap.onnx"
FEATURE = "FeatureExtractor/MobilenetV2/Conv_1/Relu6_prequant"


def build() -> bytes:
    import onnx
    import onnx.shape_inference
    from onnx import helper, utils

    data = SOURCE.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != SOURCE_SHA256:
        raise SystemExit(f"{SOURCE}: sha256 {got} is not the recorded {SOURCE_SHA256}")
    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(data))
    inp = model.graph.input[0].name
    sub = utils.Extractor(model).extract_model([inp], [FEATURE])
    g = sub.graph
    g.node.append(helper.make_node("GlobalAveragePool", [FEATURE], ["gap"], name="linli_gap"))
    g.node.append(helper.make_node("Flatten", ["gap"], ["features"], name="linli_flatten", axis=1))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("features", onnx.TensorProto.FLOAT, [1, 1280]))
    sub.producer_name = "linli models/tools/make_backbone.py"
    del sub.metadata_props[:]
    onnx.checker.check_model(sub)
    return sub.SerializeToString()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed file instead of writing it")
    args = ap.parse_args(argv)
    data = build()
    sha = hashlib.sha256(data).hexdigest()
    if args.check:
        have = hashlib.sha256(OUT.read_bytes()).hexdigest() if OUT.exists() else None
        print(f"built {len(data)} bytes sha256 {sha}; committed {have}")
        return 0 if have == sha else 1
    OUT.write_bytes(data)
    print(f"{OUT}: {len(data)} bytes, sha256 {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
