"""DataSet: what every registered data set is: where its files are, a cheap check, the loader.

``check`` and ``load`` share their first half, ``locate`` (where the files are) and ``verify``
(headers, sizes, a sample of images). So the check the driver runs before Ray starts and the
loader a worker runs cannot disagree about where the files are or what is wrong with them, and a
loader whose check was skipped fails with the same message. Only ``load`` runs ``read``, the
expensive half that decodes the whole set.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar

from ganforge.data import DATASETS
from ganforge.data.base import ImageDataset


class DataSet:
    """A registered data set. Subclasses override ``read`` and, when they have files, ``locate``
    and ``verify``; the class docstring's first line is what ``ganforge datasets`` lists."""

    Options: ClassVar[type | None] = None  # pydantic model of data.options, None: takes none

    def locate(self, spec, fetch: bool) -> Any:
        """Where the files are, or None when there is nothing to look at (bundled, or to be downloaded).

        ``fetch``: a download may run (``data.download``); the check passes False and never downloads.
        """
        return None

    def verify(self, found: Any, spec) -> None:
        """Raise DataError unless ``found`` looks loadable; reads headers and samples, never whole files."""

    def read(self, found: Any, spec) -> ImageDataset:
        """The data set itself, from what ``locate`` found and ``verify`` passed."""
        raise NotImplementedError

    def check(self, spec) -> None:
        """Raise DataError when ``spec``'s data cannot load; cheap: nothing downloaded or decoded in full."""
        found = self.locate(spec, fetch=False)
        if found is not None:
            self.verify(found, spec)

    def load(self, spec) -> ImageDataset:
        """The data set: the same locate and verify as ``check``, then ``read``."""
        found = self.locate(spec, fetch=True)
        if found is not None:
            self.verify(found, spec)
        return self.read(found, spec)

    def __call__(self, spec) -> ImageDataset:
        return self.load(spec)


def register(name: str) -> Callable[[type[DataSet]], type[DataSet]]:
    """Class decorator: ``@register("mnist")`` puts one instance of the class in DATASETS."""

    def add(cls: type[DataSet]) -> type[DataSet]:
        DATASETS.register(name)(cls())
        return cls

    return add
