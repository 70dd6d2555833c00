"""Where a file-based data set's files are looked for, and the error when they are not there.

Search order: ``data.root`` alone when it is set (an explicit path never falls back silently);
otherwise the data set's own environment variables, ``$GANFORGE_DATA_DIR/<name>``
(default ``~/.cache/ganforge/data/<name>``) and the data set's system folders. In each folder
the files may sit directly or in the sub-folder a download tool makes (``MNIST/raw``, ...).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

DATA_DIR_ENV = "GANFORGE_DATA_DIR"


class DataFilesMissing(FileNotFoundError):
    """A data set's files are not where they were looked for; the message says how to fix it."""


_KIND_CHECKS = {"directory": Path.is_dir, "file": Path.is_file}


def root_path(spec, kind: str) -> Path:
    """``data.root`` of ``spec`` as an existing ``kind`` ("directory" or "file"), else a clear error."""
    if spec.root is None:
        raise ValueError(f"data set {spec.name!r} needs a {kind}: --set data.root=PATH")
    path = Path(spec.root).expanduser()
    if not _KIND_CHECKS[kind](path):
        raise FileNotFoundError(f"data.root={path} is not a {kind} (data set {spec.name!r})")
    return path


def data_home() -> Path:
    """``$GANFORGE_DATA_DIR``, default ``~/.cache/ganforge/data`` (created only by a download)."""
    return Path(os.environ.get(DATA_DIR_ENV) or "~/.cache/ganforge/data").expanduser()


@dataclass(frozen=True)
class FileSet:
    """The files a data set needs: each entry is a tuple of acceptable names (e.g. with ``.gz``)."""

    name: str
    files: tuple[tuple[str, ...], ...]
    subdirs: tuple[str, ...] = ()
    env_vars: tuple[str, ...] = ()
    system_dirs: tuple[str, ...] = ()
    download: Callable[[Path], None] | None = field(default=None, compare=False)

    def search_dirs(self, root: str | None) -> list[Path]:
        """Folders searched, in order, before looking into their ``subdirs``."""
        if root:
            return [Path(root).expanduser()]
        env_dirs = [Path(os.environ[v]).expanduser() for v in self.env_vars if os.environ.get(v)]
        return [*env_dirs, data_home() / self.name, *(Path(d) for d in self.system_dirs)]

    def find(self, root: str | None) -> dict[str, Path] | None:
        """{first name of each needed file: its path} from the first folder holding them all."""
        for base in self.search_dirs(root):
            for folder in (base, *(base / sub for sub in self.subdirs)):
                found = {names[0]: _first_existing(folder, names) for names in self.files}
                if all(found.values()):
                    return found
        return None

    def missing_error(self, root: str | None, reason: str = "") -> DataFilesMissing:
        """The error naming the files, the folders searched and how to point at them."""
        wanted = ", ".join(" or ".join(names) for names in self.files)
        searched = ", ".join(str(d) for d in self.search_dirs(root))
        inside = f" (directly or in {', '.join(s + '/' for s in self.subdirs)})" if self.subdirs else ""
        env = " or ".join([*self.env_vars, f"{DATA_DIR_ENV} (files in ${DATA_DIR_ENV}/{self.name})"])
        hint = f"Put them there, or point to them with --set data.root=DIR or the environment variable {env}"
        if self.download:
            hint += ", or --set data.download=true to fetch them (needs network)"
        return DataFilesMissing(f"{self.name}: files not found: {wanted}. Searched: {searched}{inside}. "
                                f"{reason}{hint}")

    def locate(self, root: str | None, download: bool) -> dict[str, Path]:
        """The files' paths; downloads them into root (or the data home) first when asked."""
        found = self.find(root)
        if found is not None:
            return found
        if not (download and self.download):
            raise self.missing_error(root)
        target = Path(root).expanduser() if root else data_home() / self.name
        try:
            self.download(target)
        except Exception as err:  # network down, DNS, checksum, ...: all end in the same advice
            raise self.missing_error(root, f"Download into {target} failed ({type(err).__name__}: {err}). ") from err
        found = self.find(str(target))
        if found is None:
            raise self.missing_error(root, f"Downloaded into {target} but the files are still missing. ")
        return found


def _first_existing(folder: Path, names: Sequence[str]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def torchvision_download(class_name: str) -> Callable[[Path], None]:
    """A FileSet download function: torchvision's ``class_name`` data set fetched into a folder."""

    def download(root: Path) -> None:
        import torchvision.datasets  # only here: importing torchvision costs seconds

        getattr(torchvision.datasets, class_name)(str(root), download=True)

    return download
