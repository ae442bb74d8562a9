#!/usr/bin/env bash
# Sets up huashi on a fresh Debian-like machine: the Debian fonts the built-in datasets render
# from, a virtual environment in .venv, PyTorch and the package. Safe to run again (it skips
# what is already there). Usage: bash scripts/setup.sh [--dev]   (--dev adds the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."

# The fonts the built-in datasets render from; with --dev also Debian's Chromium and its driver,
# for the studio's browser tests (headless).
packages=(fonts-noto-color-emoji fonts-arphic-uming fonts-arphic-ukai)
if [ "${1:-}" = "--dev" ]; then packages+=(chromium chromium-driver); fi
if command -v dpkg >/dev/null && command -v apt-get >/dev/null; then
  missing=()
  for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
else
  echo "setup: not a Debian-like system; install ${packages[*]} yourself (the fonts for emoji/calligraphy)." >&2
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
  echo "setup: installing PyTorch"
  # The pinned pair lies on this project's development machines; elsewhere take what pip finds.
  "${pip[@]}" "torch==2.14.1" "torchvision==0.29.1" 2>/dev/null || "${pip[@]}" torch torchvision
fi
extras="text,mnist"
[ "${1:-}" = "--dev" ] && extras="dev"
echo "setup: installing huashi[$extras]"
"${pip[@]}" -e ".[$extras]"
