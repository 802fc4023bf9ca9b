"""``linli release keygen`` and ``linli release make`` (upload with ``POST /api/v1/releases``, see README)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from linli.release import ReleaseError, keygen, make_release


def main(args: argparse.Namespace) -> int:
    key = Path(args.key)
    try:
        if args.release_command == "keygen":
            if key.exists():
                print(f"linli release: {key} exists already; a new key would lock every device out", file=sys.stderr)
                return 2
            key.parent.mkdir(parents=True, exist_ok=True)
            keygen(key, key.with_suffix(".pub"))
            print(f"private key {key} (0600, keep it off the devices); public key {key.with_suffix('.pub')}: "
                  f"give it to the server (updates.public_key_file) and to devices (provision --update-key)")
            return 0
        m = make_release(args.source, args.version, key, args.out)
    except (ReleaseError, OSError, ValueError) as exc:
        print(f"linli release: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}/linli-{m.version}.tar.gz ({m.size} B, sha256 {m.sha256[:16]}…) and "
          f"{args.out}/linli-{m.version}.json")
    return 0
