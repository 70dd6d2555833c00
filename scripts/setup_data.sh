#!/usr/bin/env bash
# Install the data sets ganforge reads from system packages. Safe to run anywhere, any number of
# times: where it cannot install (no apt-get, not root), it says so and exits 0.
#
#   Fashion-MNIST: Debian/Ubuntu package dataset-fashion-mnist puts the four IDX .gz files in
#   /usr/share/datasets/fashion-mnist, where `data.name: fashion-mnist` finds them by default.
#   Elsewhere: put the files in a folder and pass --set data.root=DIR (or GANFORGE_FASHION_MNIST_DIR).
#
# digits, lfw-faces and shapes need nothing (bundled with scikit-learn / scikit-image, or drawn).
set -euo pipefail

FASHION_DIR=/usr/share/datasets/fashion-mnist
PACKAGE=dataset-fashion-mnist

if [ -f "$FASHION_DIR/train-images-idx3-ubyte.gz" ]; then
    echo "fashion-mnist: already installed in $FASHION_DIR"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "fashion-mnist: apt-get not found; skipping. Get the IDX files from" \
         "https://github.com/zalandoresearch/fashion-mnist and pass --set data.root=DIR" >&2
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "fashion-mnist: not root; skipping. Run: sudo apt-get install -y $PACKAGE" >&2
    exit 0
fi
if ! apt-cache show "$PACKAGE" >/dev/null 2>&1; then
    apt-get update -q
fi
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$PACKAGE"; then
    echo "fashion-mnist: installed in $FASHION_DIR"
else
    echo "fashion-mnist: apt-get could not install $PACKAGE (not in this distribution's archive?);" \
         "pass --set data.root=DIR to a folder with the IDX files instead" >&2
fi
