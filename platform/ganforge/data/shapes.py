"""Procedurally drawn coloured shapes: a labelled data set at any resolution, made in seconds.

Each image is one shape (its kind is the class label) of random size, position, rotation and
colour on a darker plain background. Shapes are drawn from signed distance functions in unit
coordinates, vectorised over a chunk of images, with a one-pixel soft edge (anti-aliasing).
All parameters come from one ``rng.random((n, 11))`` table, so the first m images are the same
whatever ``n`` is: ``data.limit`` keeps a prefix of the full set, as for every other data set.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from pydantic import Field

from ganforge.config import Strict
from ganforge.data.base import ImageDataset
from ganforge.data.entry import DataSet, register


def _polygon(sides: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Regular polygon of circumradius 1: the largest distance past its edges' half-planes."""
    angles = 2 * np.pi * np.arange(sides) / sides
    cos, sin, apothem = np.cos(angles), np.sin(angles), np.cos(np.pi / sides)

    def sdf(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return (u[..., None] * cos + v[..., None] * sin).max(axis=-1) - apothem

    return sdf


def _circle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.hypot(u, v) - 1.0


def _ring(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.abs(np.hypot(u, v) - 0.7) - 0.3


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    au, av = np.abs(u), np.abs(v)
    return np.minimum(np.maximum(au - 1.0, av - 0.3), np.maximum(au - 0.3, av - 1.0))


# Class label = position in this table. Signed distances are in units of the shape's radius.
KINDS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "circle": _circle, "square": _polygon(4), "triangle": _polygon(3),
    "hexagon": _polygon(6), "ring": _ring, "cross": _cross,
}


def draw_shapes(n: int, resolution: int, seed: int, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (uint8 [n, R, R, 3]) and their kind labels (int64 [n])."""
    table = np.random.default_rng(seed).random((n, 11))
    labels = np.minimum((table[:, 0] * len(KINDS)).astype(np.int64), len(KINDS) - 1)
    radius = (0.18 + 0.22 * table[:, 1]) * resolution
    centre = radius[:, None] + table[:, 2:4] * (resolution - 2 * radius[:, None])
    angle = 2 * np.pi * table[:, 4]
    background = 0.3 * table[:, 5:8]
    foreground = 0.4 + 0.6 * table[:, 8:11]
    images = np.empty((n, resolution, resolution, 3), np.uint8)
    pixel = np.arange(resolution) + 0.5
    for start in range(0, n, chunk):  # bounded memory: chunk x R x R floats per array
        part = slice(start, start + chunk)
        alpha = _coverage(labels[part], radius[part], centre[part], angle[part], pixel)
        blend = background[part, None, None] + alpha[..., None] * (foreground - background)[part, None, None]
        images[part] = np.rint(blend * 255)
    return images, labels


def _coverage(labels, radius, centre, angle, pixel) -> np.ndarray:
    """Per-pixel shape coverage in [0, 1] for a chunk of images."""
    dx = (pixel[None, None, :] - centre[:, 0, None, None]) / radius[:, None, None]
    dy = (pixel[None, :, None] - centre[:, 1, None, None]) / radius[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = dx * cos + dy * sin, dy * cos - dx * sin
    alpha = np.empty_like(u)
    for label, sdf in enumerate(KINDS.values()):
        rows = labels == label
        distance = sdf(u[rows], v[rows]) * radius[rows, None, None]  # in pixels
        alpha[rows] = np.clip(0.5 - distance, 0.0, 1.0)
    return alpha


class ShapesOptions(Strict):
    n: int = Field(10000, ge=1, description="number of images to draw")
    seed: int = Field(0, description="seed of the drawing (independent of train.seed)")


@register("shapes")
class Shapes(DataSet):
    """Coloured shapes drawn procedurally at any resolution; label = shape kind (6 classes), RGB."""

    Options = ShapesOptions

    def read(self, found, spec) -> ImageDataset:
        options = ShapesOptions(**spec.options)
        n = min(options.n, spec.limit or options.n)
        images, labels = draw_shapes(n, spec.resolution, options.seed)
        return ImageDataset(images, labels=labels, class_names=list(KINDS))
