#!/usr/bin/env bash
# Install the real photographs that the paired data sets (edges2photos, sr) read beside the ones
# pip packages carry (scikit-image, scikit-learn, matplotlib). Safe to run anywhere, any number of
# times: where it cannot install (no apt-get, not root, package not in the archive), it says so
# and exits 0, and the data sets use the pip-installed photos alone.
#
#   opencv-doc                   ~30 example photos in /usr/share/doc/opencv-doc/examples/data,
#                                incl. Set5's butterfly and Set14's baboon (the sr test split)
#   mate-backgrounds             nature photographs up to 2560x1920 in /usr/share/backgrounds
#   plasma-workspace-wallpapers  photographs 2560x1600 in /usr/share/wallpapers
set -euo pipefail

PACKAGES=(opencv-doc mate-backgrounds plasma-workspace-wallpapers)
MARKER=/usr/share/doc/opencv-doc/examples/data/butterfly.jpg

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "photos: already installed (${PACKAGES[*]})"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "photos: apt-get not found; skipping ${missing[*]} (edges2photos and sr use the photos" \
         "that scikit-image, scikit-learn and matplotlib carry)" >&2
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "photos: not root; skipping. Run: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 0
fi
if ! apt-cache show "${missing[0]}" >/dev/null 2>&1; then
    apt-get update -q
fi
for package in "${missing[@]}"; do  # one at a time: a package missing from the archive skips only itself
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$package"; then
        echo "photos: installed $package"
    else
        echo "photos: apt-get could not install $package (not in this distribution's archive?); skipping it" >&2
    fi
done
[ -f "$MARKER" ] || echo "photos: $MARKER is absent; the sr test split has no butterfly/baboon" >&2
