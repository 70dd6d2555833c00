"""The real photographs that installed packages carry, found on disk without downloading anything.

Always there (pip dependencies of the project): scikit-image's ``skimage/data`` photos,
scikit-learn's sample images (china, flower) and matplotlib's ``grace_hopper.jpg``. SciPy's
``face`` where a copy is on disk (old SciPy's ``scipy/misc/face.dat`` or the pooch cache of
``scipy.datasets``; new SciPy downloads it, which is never done here). Where
scripts/setup_photos.sh installed them from Debian: opencv-doc's example photos (incl.
butterfly.jpg and baboon.jpg), mate-backgrounds' nature photographs and the photographs among
plasma-workspace-wallpapers (2560x1600 class).

Only photographs are listed (no charts, logos, renders, scans of text, calibration boards or
paintings). Each photo has a ``group`` (a stereo pair or two shots of one scene share one) and a
fixed split: the held-out (``test``) photos are named below for the curated sources, and drawn
by a hash of the group for folders whose contents vary (wallpapers, a user's data.root), so a
photo's split never depends on which other photos are installed.
"""
from __future__ import annotations

import bz2
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from ganforge.noise import derive_seed

OPENCV_DIR = Path("/usr/share/doc/opencv-doc/examples/data")
MATE_DIR = Path("/usr/share/backgrounds/mate/nature")
PLASMA_DIR = Path("/usr/share/wallpapers")
HASH_TEST_FRACTION = 5  # 1 in 5 groups of a varying folder is held out

# name -> group. Colour and grey photographs; stereo pairs / two views of one scene share a group.
SKIMAGE = {"astronaut": "astronaut", "coffee": "coffee", "chelsea": "chelsea", "rocket": "rocket",
           "hubble_deep_field": "hubble_deep_field", "retina": "retina", "ihc": "ihc",
           "motorcycle_left": "motorcycle", "motorcycle_right": "motorcycle", "camera": "camera",
           "moon": "moon", "brick": "brick", "grass": "grass", "gravel": "gravel", "coins": "coins"}
OPENCV = {"apple": "apple", "baboon": "baboon", "building": "building", "butterfly": "butterfly",
          "fruits": "fruits", "home": "home", "HappyFish": "HappyFish", "messi5": "messi5",
          "orange": "orange", "squirrel_cls": "squirrel_cls", "stuff": "stuff", "board": "board",
          "smarties": "smarties", "chicky_512": "chicky_512", "box_in_scene": "box_in_scene",
          "ela_original": "ela", "aero1": "aero", "aero3": "aero", "graf1": "graf", "graf3": "graf",
          "leuvenA": "leuven", "leuvenB": "leuven", "basketball1": "basketball",
          "basketball2": "basketball", "rubberwhale1": "rubberwhale", "rubberwhale2": "rubberwhale",
          "aloeL": "aloe", "aloeR": "aloe"}
# The photographs among plasma-workspace-wallpapers (the rest are drawn graphics).
PLASMA = ("Autumn", "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
          "FallenLeaf", "Grey", "Kite", "MilkyWay", "OneStandsOut", "PastelHills", "Path", "summer_1am")
# Held-out groups of the curated sources: about a fifth of each, chosen to span content.
# opencv-doc's butterfly.jpg (493x356) and baboon.jpg (512x512, the USC-SIPI mandrill) are the
# classic SR test images, but not byte-identical to Set5's butterfly / Set14's baboon.
HELD_OUT = {"skimage/chelsea", "skimage/coffee", "skimage/camera", "sklearn/flower",
            "opencv/butterfly", "opencv/baboon", "opencv/home", "opencv/graf"}
FACE_SHAPE = (768, 1024, 3)  # scipy's face.dat: bz2-compressed raw RGB bytes


@dataclass(frozen=True)
class Photo:
    """One photograph: ``key`` names it ("skimage/astronaut"), ``group`` decides its split."""

    key: str
    path: Path
    group: str
    split: str  # "train" or "test"
    decoder: Callable[[Path], np.ndarray] | None = None  # None: PIL

    def size(self) -> tuple[int, int]:
        """(width, height) from the file's header, without decoding the pixels."""
        if self.decoder is not None:
            return FACE_SHAPE[1], FACE_SHAPE[0]
        with Image.open(self.path) as image:
            return image.size

    def decode(self) -> np.ndarray:
        """The photo as uint8 HWC RGB (grey photos as L, 1 channel)."""
        if self.decoder is not None:
            return self.decoder(self.path)
        with Image.open(self.path) as image:
            mode = "L" if image.mode in ("L", "I", "I;16", "1") else "RGB"
            array = np.asarray(image.convert(mode))
        return array[..., None] if array.ndim == 2 else array


def hashed_split(group: str) -> str:
    """The fixed split of a group in a folder whose contents vary: 1 in HASH_TEST_FRACTION held out."""
    return "test" if derive_seed("ganforge.photos.holdout", group) % HASH_TEST_FRACTION == 0 else "train"


def _curated(key: str, path: Path, group: str) -> Photo:
    source = key.split("/")[0]
    held = f"{source}/{group}" in HELD_OUT
    return Photo(key, path, f"{source}/{group}", "test" if held else "train")


def _package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (importing skimage costs seconds)."""
    spec = importlib.util.find_spec(package)
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None


def _first(folder: Path, stem: str, suffixes=(".png", ".jpg")) -> Path | None:
    return next((folder / (stem + s) for s in suffixes if (folder / (stem + s)).is_file()), None)


def skimage_photos() -> list[Photo]:
    """scikit-image's data photographs."""
    base = _package_dir("skimage")
    found = [(name, group, _first(base / "data", name)) for name, group in SKIMAGE.items()] if base else []
    return [_curated(f"skimage/{name}", path, group) for name, group, path in found if path]


def sklearn_photos() -> list[Photo]:
    """scikit-learn's sample images china.jpg and flower.jpg."""
    base = _package_dir("sklearn")
    paths = [(name, base / "datasets" / "images" / f"{name}.jpg") for name in ("china", "flower")] if base else []
    return [_curated(f"sklearn/{name}", path, name) for name, path in paths if path.is_file()]


def matplotlib_photos() -> list[Photo]:
    """matplotlib's sample photo of Grace Hopper."""
    base = _package_dir("matplotlib")
    path = base / "mpl-data" / "sample_data" / "grace_hopper.jpg" if base else None
    return [_curated("matplotlib/grace_hopper", path, "grace_hopper")] if path and path.is_file() else []


def _decode_face(path: Path) -> np.ndarray:
    return np.frombuffer(bz2.decompress(path.read_bytes()), np.uint8).reshape(FACE_SHAPE)


def scipy_photos() -> list[Photo]:
    """SciPy's raccoon face, where a copy is on disk (never downloaded)."""
    base = _package_dir("scipy")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "scipy-data" / "face.dat"
    candidates = ([base / "misc" / "face.dat"] if base else []) + [cache]
    path = next((p for p in candidates if p.is_file()), None)
    return [Photo("scipy/face", path, "scipy/face", "train", _decode_face)] if path else []


def opencv_photos() -> list[Photo]:
    """opencv-doc's example photographs (Debian opencv-doc; scripts/setup_photos.sh)."""
    found = [(name, group, _first(OPENCV_DIR, name, (".jpg", ".png"))) for name, group in OPENCV.items()]
    return [_curated(f"opencv/{name}", path, group) for name, group, path in found if path]


def mate_photos() -> list[Photo]:
    """mate-backgrounds' nature photographs (Debian mate-backgrounds)."""
    paths = sorted(MATE_DIR.glob("*.jpg")) if MATE_DIR.is_dir() else []
    return [Photo(f"mate/{p.stem}", p, f"mate/{p.stem}", hashed_split(f"mate/{p.stem}")) for p in paths]


def _pixels(path: Path) -> int:
    width, _, height = path.stem.partition("x")  # plasma names its files WIDTHxHEIGHT
    return int(width) * int(height) if width.isdigit() and height.isdigit() else 0


def plasma_photos() -> list[Photo]:
    """The photographs among plasma-workspace-wallpapers, each at its largest size."""
    photos = []
    for name in PLASMA:
        sizes = [p for p in (PLASMA_DIR / name / "contents" / "images").glob("*") if _pixels(p)]
        if sizes:
            path = max(sizes, key=_pixels)
            photos.append(Photo(f"plasma/{name}", path, f"plasma/{name}", hashed_split(f"plasma/{name}")))
    return photos


SOURCES = (skimage_photos, sklearn_photos, matplotlib_photos, scipy_photos, opencv_photos,
           mate_photos, plasma_photos)


def installed_photos() -> list[Photo]:
    """Every photograph the installed packages carry, sorted by key."""
    return sorted((photo for source in SOURCES for photo in source()), key=lambda p: p.key)


def folder_photos(files: list[Path], root: Path) -> list[Photo]:
    """A user's folder of photos (data.root), each its own group with a hashed split."""
    keys = [str(p.relative_to(root)) for p in files]
    return [Photo(key, path, key, hashed_split(key)) for key, path in zip(keys, files)]
