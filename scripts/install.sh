#!/usr/bin/env bash
# Install linli on this machine as systemd services (Raspberry Pi OS / Debian 12), from this source tree.
#   sudo scripts/install.sh --kind lift_guard --device lift-03 --bundle lift-03.linli [--set key=value …]
#   sudo scripts/install.sh --role server
# It makes the shared environment of third-party packages (/opt/linli/deps) with pip, then hands over to
# `linli install`, which does the rest (see README "Install on a Raspberry Pi"). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then echo "install.sh: run it as root (sudo)" >&2; exit 2; fi
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
fi
deps=/opt/linli/deps
[ -x "$deps/bin/python" ] || python3 -m venv "$deps"
"$deps/bin/python" -m pip install -q --disable-pip-version-check .
exec "$deps/bin/python" -m linli.cli install --venv-from "$deps" "$@"
