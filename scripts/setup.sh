#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 / Ubuntu / Raspberry Pi OS machine: system packages (when we can
# install them), the virtual environment in .venv/ and the Python packages. Fast when everything is in place.
#   scripts/setup.sh            everything the demo and the tests need
#   LINLI_SETUP_MINIMAL=1 ...   skip the browser (chromium) and PostgreSQL: for a Pi that only runs agents
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }

# ---------------------------------------------------------------- system packages
want_cmds=(mosquitto:mosquitto mosquitto_pub:mosquitto-clients socat:socat espeak-ng:espeak-ng nats-server:nats-server)
want_pkgs=(fonts-noto-cjk fonts-wqy-zenhei fonts-arphic-ukai fonts-dejavu-core fonts-liberation2)  # the last four: held-out plate scenes (bench/plates_heldout.py)
if [ -z "${LINLI_SETUP_MINIMAL:-}" ]; then
  want_cmds+=(chromium:chromium)
  [ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want_pkgs+=(postgresql)
fi
missing=()
for pair in "${want_cmds[@]}"; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
done
for pkg in "${want_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
  fi
  if [ "$SUDO" = "none" ] || ! command -v apt-get >/dev/null 2>&1; then
    say "cannot install system packages (${missing[*]}): no root/apt. The demo falls back to the embedded"
    say "amqtt broker; tests that need mosquitto/chromium/postgresql will fail or skip."
  else
    say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq || true
    # mosquitto's postinst may try to start a service: there is none without systemd, which is fine.
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# ---------------------------------------------------------------- Python
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  say "linli needs Python >= 3.11 (found $("$PY" --version 2>&1))"; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.linli-installed
want=$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing Python packages into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
  echo "$want" > "$stamp"
else
  say "Python packages up to date"
fi
