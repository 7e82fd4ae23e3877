#!/usr/bin/env bash
# Idempotent set-up of everything the project needs on a fresh Debian machine:
# Debian packages on the host, a Python virtual environment with the project
# installed in it, and (with --sandbox) the Asterisk sandbox.
# A second run takes seconds: every step checks before it works.
set -euo pipefail
cd "$(dirname "$0")/.."

# fonts-wqy-microhei: Chinese glyphs for screenshots of the zh pages and graphs.
# baresip-core: a softphone that is not ours, for the test that calls the demo as a person would.
HOST_PACKAGES=(espeak-ng sox debootstrap chromium chromium-driver graphviz fonts-wqy-microhei wrk
               baresip-core)
missing=()
for pkg in "${HOST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -e "$stamp" ]; then
    echo "setup: installing Python packages into .venv"
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[dev]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi
