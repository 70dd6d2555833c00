"""Where checkpoints live, read through pyarrow filesystems so that ``scaling.storage_path`` may be
any URI Ray takes (a local path, ``file://``, ``s3://``, ``gs://``, NFS mounted on every node).

Every worker loads the checkpoint it continues from, and on a cluster the workers do not share
the driver's disk: a ``--resume`` directory or a downloaded MLflow artifact is therefore first
copied ("staged") into the run's own storage, and workers read it from there.
"""
from __future__ import annotations

import contextlib
import os
import posixpath
from pathlib import Path
from typing import Iterator

from ganforge.train.checkpoint import CHECKPOINT_FILE, find_checkpoint_file

STAGED_DIR = "resume_from"  # inside the run's storage directory


def storage_root(spec) -> str:
    """Where Ray Train keeps checkpoints: the spec's storage, else Ray's default ~/ray_results."""
    path = spec.scaling.storage_path or "~/ray_results"
    if "://" in path:  # file://, s3://, gs://, ... (shared storage for multi-node runs)
        return path.rstrip("/")
    return os.path.abspath(os.path.expanduser(path))


def join(root: str, *parts: str) -> str:
    """``root/part/...`` for a local path or a URI alike."""
    return posixpath.join(root, *parts) if "://" in root else os.path.join(root, *parts)


def _filesystem(location: str):
    """(pyarrow filesystem, path inside it) for a local path or a URI."""
    import pyarrow.fs

    if "://" in location:
        return pyarrow.fs.FileSystem.from_uri(location)
    return pyarrow.fs.LocalFileSystem(), os.path.abspath(location)


def latest_checkpoint(run_dir: str) -> str | None:
    """The newest ``checkpoint_*`` directory (with a checkpoint file) of a Ray Train run directory,
    in the form ``run_dir`` was given in; names sort by time."""
    import pyarrow.fs

    fs, path = _filesystem(run_dir)
    try:
        entries = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
    except OSError:  # unreachable storage: nothing to continue from there
        return None
    names = sorted(e.base_name for e in entries if e.type == pyarrow.fs.FileType.Directory
                   and e.base_name.startswith("checkpoint_"))
    for name in reversed(names):
        if fs.get_file_info(posixpath.join(path, name, CHECKPOINT_FILE)).type == pyarrow.fs.FileType.File:
            return join(run_dir, name)
    return None


@contextlib.contextmanager
def local_copy(location: str) -> Iterator[str]:
    """A local directory or file for a checkpoint anywhere (downloaded while the block runs)."""
    if "://" not in location:
        yield location
        return
    from ray.train import Checkpoint

    with Checkpoint(path=location).as_directory() as directory:
        yield directory


def stage(location: str, run_dir: str) -> str:
    """Copy the checkpoint at ``location`` (a local directory or file) to ``run_dir/resume_from``,
    where every worker can read it; returns that location."""
    import pyarrow.fs

    source = find_checkpoint_file(location)
    target = join(run_dir, STAGED_DIR)
    fs, path = _filesystem(target)
    fs.create_dir(path, recursive=True)
    pyarrow.fs.copy_files(str(Path(source).resolve()), posixpath.join(path, CHECKPOINT_FILE),
                          source_filesystem=pyarrow.fs.LocalFileSystem(), destination_filesystem=fs)
    return target


def read_text(location: str) -> str | None:
    """A small text file on storage (a local path or URI); None when it is not there."""
    import pyarrow.fs

    fs, path = _filesystem(location)
    if fs.get_file_info(path).type != pyarrow.fs.FileType.File:
        return None
    with fs.open_input_stream(path) as stream:
        return stream.read().decode()


def write_text(location: str, text: str) -> None:
    """Write a small text file on storage, creating its directory."""
    fs, path = _filesystem(location)
    fs.create_dir(posixpath.dirname(path), recursive=True)
    with fs.open_output_stream(path) as stream:
        stream.write(text.encode())


def local_path(location: str) -> str | None:
    """The local path of a plain path or ``file://`` URI; None for remote storage."""
    if "://" not in location:
        return location
    return location.removeprefix("file://") if location.startswith("file://") else None


def fs_uri(fs, path: str) -> str:
    """``path`` on the pyarrow filesystem ``fs`` as one string any node resolves (a URI on remote
    storage, the plain path on a local one)."""
    if fs is None or fs.type_name in ("local", "") or "::" in fs.type_name:  # local, or fsspec-wrapped
        return path
    return f"{fs.type_name}://{path}"


def checkpoint_uri(checkpoint) -> str:
    """A Ray ``Checkpoint``'s location as one string any node resolves (a URI on remote storage)."""
    return fs_uri(checkpoint.filesystem, checkpoint.path)
