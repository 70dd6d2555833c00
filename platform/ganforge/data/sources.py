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

from ganforge.data.errors import DataError, DataFilesMissing

DATA_DIR_ENV = "GANFORGE_DATA_DIR"

__all__ = ["DATA_DIR_ENV", "DataFilesMissing", "FileSet", "data_home", "root_path", "torchvision_download"]

_KIND_CHECKS = {"directory": Path.is_dir, "file": Path.is_file}


def root_path(spec, kind: str, holding: str) -> Path:
    """``data.root`` of ``spec`` as a readable ``kind`` ("directory" or "file"), else a DataError.

    ``holding`` says what the user should point at ("a folder of images", ...) in the fix.
    """
    fix = f"point data.root at {holding} (--set data.root=PATH)"
    if spec.root is None:
        raise DataError(f"data set {spec.name!r} reads {holding} and data.root is not set: {fix}")
    path = Path(spec.root).expanduser()
    if not path.exists():
        raise DataFilesMissing(f"{spec.name}: data.root={path} does not exist; {fix}")
    if not _KIND_CHECKS[kind](path):
        other = "directory" if path.is_dir() else "file"
        raise DataFilesMissing(f"{spec.name}: data.root={path} is a {other}, not a {kind}; {fix}")
    if not os.access(path, os.R_OK | (os.X_OK if kind == "directory" else 0)):
        raise DataError(f"{spec.name}: data.root={path} is not readable by this user; fix its permissions or {fix}")
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
    setup: str = ""  # another way to install the files, e.g. "scripts/setup_data.sh installs them"

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
        searched = ", ".join(str(d) + ("" if d.is_dir() else " (does not exist)") for d in self.search_dirs(root))
        inside = f" (directly or in {', '.join(s + '/' for s in self.subdirs)})" if self.subdirs else ""
        env = " or ".join([*self.env_vars, f"{DATA_DIR_ENV} (files in ${DATA_DIR_ENV}/{self.name})"])
        hint = f"Put them there, or point to them with --set data.root=DIR or the environment variable {env}"
        if self.download:
            hint += ", or --set data.download=true to fetch them (needs network)"
        if self.setup:
            hint += f"; {self.setup}"
        return DataFilesMissing(f"{self.name}: files not found: {wanted}. Searched: {searched}{inside}. "
                                f"{reason}{hint}")

    def damaged_error(self, problem: str) -> DataError:
        """The error for a file that is there but unusable: ``problem`` names it and what is wrong."""
        fetch = " and --set data.download=true to fetch it again" if self.download else ""
        setup = f"; {self.setup}" if self.setup else ""
        return DataError(f"{self.name}: {problem}. Replace the file: delete it{fetch}, or copy a good one there "
                         f"(or point --set data.root=DIR at another copy){setup}")

    def locate(self, root: str | None, download: bool, fetch: bool = True) -> dict[str, Path] | None:
        """The files' paths; downloads them into root (or the data home) first when asked.

        ``fetch=False`` (the preflight check) never downloads: None where ``locate`` would.
        """
        found = self.find(root)
        if found is not None:
            return found
        if not (download and self.download):
            raise self.missing_error(root)
        if not fetch:
            return None
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
