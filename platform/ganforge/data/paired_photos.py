"""edges2photos and sr: paired sets cut from real photographs (ganforge.data.photos), nothing downloaded.

- ``edges2photos`` (pix2pix's edges -> photo, as edges2shoes): random crops of the photos, resized
  from up to ``max_zoom`` times data.resolution down to it; the input is cv2.Canny of the crop.
- ``sr`` (SRGAN's protocol): HR = crops at data.resolution in native pixels (never resized),
  LR = bicubic downsample by ``scale``; or the images of any registered generate data set as HR.

Both have a fixed held-out split by source photo (data.split=test: crops of held-out photos
only; ganforge.data.photos says which). The cheap check reads photo headers only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from ganforge.data import DATASETS
from ganforge.data.entry import DataSet, register
from ganforge.data.errors import DataError
from ganforge.data.paired import Bicubic, ItemPairs, PairedDataset, hwc
from ganforge.data.paired_crops import CropOptions, Windows, detail, large_enough, read_crops, split_photos


@dataclass(frozen=True)
class CannyEdges:
    """The input of edges2photos: cv2.Canny of the grey target, one channel.

    ``black_on_white`` draws the lines as edges2shoes' inputs are drawn (dark contours on white);
    otherwise Canny's own output, white edges on black.
    """

    low: float
    high: float
    black_on_white: bool
    scale: int = 1

    def channels(self, target_channels: int) -> int:
        return 1

    def __call__(self, target: np.ndarray) -> np.ndarray:
        target = np.ascontiguousarray(target)
        grey = target[..., 0] if target.shape[-1] == 1 else cv2.cvtColor(target, cv2.COLOR_RGB2GRAY)
        edges = cv2.Canny(np.ascontiguousarray(grey), self.low, self.high, L2gradient=True)
        return hwc(255 - edges if self.black_on_white else edges)

    def density(self, target: np.ndarray) -> float:
        """The fraction of ``target``'s pixels that are edges (how crops are chosen)."""
        edges = self(target)
        return float(np.mean(edges < 128 if self.black_on_white else edges >= 128))


class EdgesOptions(CropOptions):
    max_zoom: float = Field(4.0, ge=1.0, description="a crop spans 1 to max_zoom times data.resolution before it is resized to it")
    canny: tuple[float, float] = Field((50.0, 150.0), description="cv2.Canny's low and high hysteresis thresholds")
    min_edges: float = Field(0.03, ge=0, le=1, description="a crop with a smaller fraction of edge pixels is redrawn (up to 8 times): no blank sky")
    edges: Literal["black-on-white", "white-on-black"] = Field(
        "black-on-white", description="how the input draws edges: edges2shoes' dark lines on white, or Canny's white on black")


@register("edges2photos")
class EdgesToPhotos(DataSet):
    """Canny edges -> photo pairs (pix2pix): random crops of the installed photographs; held-out split by photo."""

    Options = EdgesOptions
    task = "paired"

    def locate(self, spec, fetch: bool):
        return split_photos(spec)

    def verify(self, found, spec) -> None:
        large_enough(found, spec.resolution, spec)

    def read(self, found, spec) -> PairedDataset:
        photos = large_enough(found, spec.resolution, spec, warn=True)
        low, high = spec.options["canny"]
        edges = CannyEdges(low, high, spec.options["edges"] == "black-on-white")
        windows = Windows(spec.resolution, spec.options["max_zoom"], edges.density, spec.options["min_edges"])
        source = read_crops(photos, spec, windows)
        return PairedDataset(source, resolution=spec.resolution, channels=spec.channels,
                             input_channels=spec.channels, derive=edges)


class SrOptions(CropOptions):
    source: str = Field("photos", description='HR images: "photos" (crops of the installed photographs) or a registered data set name')
    source_options: dict[str, Any] = Field(default_factory=dict, description="data.options of the source data set")
    scale: Literal[2, 4] = Field(4, description="LR = HR downsampled by this factor (bicubic)")
    min_detail: float = Field(4.0, ge=0, description="a photo crop whose mean absolute Laplacian (grey levels) is below this is redrawn (up to 8 times): no smooth sky")


@dataclass(frozen=True)
class SourceImages:
    """A picklable reader of a generate data set's images (HR of ``sr``)."""

    dataset: Any

    def __call__(self, index: int) -> tuple[None, np.ndarray]:
        return None, self.dataset.image(index)


def _source(spec):
    """(the DataSet entry ``sr``'s options.source names, the spec to load it with); DataError if unfit."""
    from ganforge.data import _entry  # the one options check, shared with build_dataset

    name = spec.options["source"]
    if name not in DATASETS:
        raise DataError(f"sr: options.source={name!r} is not a data set; valid: photos, "
                        f"{', '.join(n for n, e in DATASETS.items() if getattr(e, 'task', 'generate') == 'generate')}")
    if getattr(DATASETS.get(name), "task", "generate") != "generate":
        raise DataError(f"sr: options.source={name!r} is a paired data set; name an image data set "
                        f"(e.g. folder, cifar10) or photos")
    return _entry(spec.model_copy(update={"name": name, "options": spec.options["source_options"]}))


@register("sr")
class SuperResolution(DataSet):
    """(LR, HR) pairs for super-resolution: HR crops of photos (or any image set), LR by bicubic x2/x4."""

    Options = SrOptions
    task = "paired"

    def locate(self, spec, fetch: bool):
        scale = spec.options["scale"]
        if spec.resolution % scale:
            raise DataError(f"sr: data.resolution={spec.resolution} is not a multiple of options.scale={scale}; "
                            f"use e.g. --set data.resolution={spec.resolution - spec.resolution % scale or scale}")
        if spec.options["source"] == "photos":
            return split_photos(spec)
        entry, source_spec = _source(spec)
        return entry, source_spec, entry.locate(source_spec, fetch)

    def verify(self, found, spec) -> None:
        if spec.options["source"] == "photos":
            large_enough(found, spec.resolution, spec)
        elif found[2] is not None:
            found[0].verify(found[2], found[1])

    def read(self, found, spec) -> PairedDataset:
        derive = Bicubic(spec.options["scale"])
        if spec.options["source"] == "photos":
            windows = Windows(spec.resolution, 1.0, detail, spec.options["min_detail"], probe=0)  # native HR pixels
            source = read_crops(large_enough(found, spec.resolution, spec, warn=True), spec, windows)
        else:
            entry, source_spec, located = found
            images = entry.read(located, source_spec).configured(spec.limit, spec.resolution, spec.channels)
            source = ItemPairs(range(len(images)), SourceImages(images), images.channels, images.channels)
        return PairedDataset(source, resolution=spec.resolution, channels=spec.channels, derive=derive)
