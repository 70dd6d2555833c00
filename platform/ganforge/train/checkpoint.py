"""Checkpoints: the spec plus plain state dicts, written atomically, loaded weights_only.

A checkpoint directory holds ``checkpoint.pt``: G, D, EMA-G, both optimizers and schedules,
the step, torch's RNG states (CPU, and each GPU's once CUDA is in use), any extra states (``GanModules.extras``), the spec (a plain dict)
and meta (image shape, classes). Models are rebuilt from the spec, never unpickled.
``generator.pt`` (spec, meta, the sampling generator's weights) is what MLflow model logging and serving use.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from ganforge.train.precision import rng_states, set_rng_states
from ganforge.train.step import GanModules

CHECKPOINT_FILE = "checkpoint.pt"
GENERATOR_FILE = "generator.pt"
FORMAT = 1  # raise when the layout changes; load_checkpoint refuses formats it does not know


def atomic_save(payload: dict, path: str | Path) -> Path:
    """torch.save to a temp file in the same directory, fsync, then rename over ``path``.

    A crash at any moment leaves either the old file or the new one, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _state(module):
    return None if module is None else module.state_dict()


def training_state(modules: GanModules, step: int, spec: dict, meta: dict) -> dict:
    """Everything needed to continue training exactly at ``step``."""
    return {
        "format": FORMAT, "step": step, "spec": spec, "meta": meta,
        "G": modules.G.state_dict(), "D": modules.D.state_dict(), "G_ema": _state(modules.G_ema),
        "opt_g": modules.opt_g.state_dict(), "opt_d": modules.opt_d.state_dict(),
        "sched_g": modules.sched_g.state_dict(), "sched_d": modules.sched_d.state_dict(),
        "rng": rng_states(),
        "extras": {name: state.state_dict() for name, state in modules.extras.items()},
    }


def generator_state(generator: torch.nn.Module, spec: dict, meta: dict, step: int) -> dict:
    """What sampling needs: the spec, meta and one generator's weights."""
    return {"format": FORMAT, "step": step, "spec": spec, "meta": meta, "G": generator.state_dict()}


def save_checkpoint(modules: GanModules, step: int, spec: dict, meta: dict, directory: str | Path) -> Path:
    """Write ``checkpoint.pt`` into ``directory`` atomically; returns the directory."""
    atomic_save(training_state(modules, step, spec, meta), Path(directory) / CHECKPOINT_FILE)
    return Path(directory)


def find_checkpoint_file(location: str | Path) -> Path:
    """The checkpoint file at ``location`` (a file, or a directory holding one)."""
    location = Path(location)
    if location.is_file():
        return location
    for name in (CHECKPOINT_FILE, GENERATOR_FILE):
        if (location / name).is_file():
            return location / name
    raise FileNotFoundError(f"no {CHECKPOINT_FILE} or {GENERATOR_FILE} in {location}")


def load_checkpoint(location: str | Path, mmap: bool = False) -> dict:
    """Load a checkpoint (file or directory) with ``weights_only=True``; ``mmap``: tensors are
    read from disk only when touched (for a look at its step or spec)."""
    path = find_checkpoint_file(location)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # a torn/corrupt file: say which one
        raise RuntimeError(f"cannot read checkpoint {path}: {err}") from err
    if payload.get("format") != FORMAT:
        raise RuntimeError(f"checkpoint {path} has format {payload.get('format')!r}; this ganforge reads format "
                           f"{FORMAT}: load it with the ganforge version that wrote it")
    return payload


def _hyperparameters(optimizer) -> list[dict]:
    """The optimizer's per-group settings as the spec built them (lr, betas, momentum, ...)."""
    return [{key: value for key, value in group.items() if key != "params"} for group in optimizer.param_groups]


def _adopt_spec_hyperparameters(optimizer, scheduler, built: list[dict]) -> None:
    """After loading a checkpoint, the spec's hyperparameters win over the saved ones.

    PBT restores a donor's checkpoint under a mutated config, so its lr/betas/momentum must be
    the new spec's. The lr keeps the schedule's progress: it is rescaled from the saved base lr
    to the spec's (unchanged, bit for bit, when they are equal, so a plain resume stays exact).
    """
    for group, spec_group, saved_base in zip(optimizer.param_groups, built, scheduler.base_lrs):
        group.update({k: v for k, v in spec_group.items() if k not in ("lr", "initial_lr")})
        spec_base = spec_group["initial_lr"]
        if spec_base != saved_base:
            group["lr"] = spec_base * group["lr"] / saved_base
            group["initial_lr"] = spec_base
    scheduler.base_lrs = [group["initial_lr"] for group in built]
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]  # what get_last_lr() returns


def restore(modules: GanModules, payload: dict) -> int:
    """Load ``payload`` into ``modules``; returns the step to continue from.

    Weights, optimizer moments, schedule position and RNG come from the checkpoint; optimizer
    hyperparameters come from the spec ``modules`` were built from (see above).
    """
    modules.G.load_state_dict(payload["G"])
    modules.D.load_state_dict(payload["D"])
    if modules.G_ema is not None and payload.get("G_ema") is not None:
        modules.G_ema.load_state_dict(payload["G_ema"])
    for optimizer, scheduler, key in ((modules.opt_g, modules.sched_g, "g"), (modules.opt_d, modules.sched_d, "d")):
        built = _hyperparameters(optimizer)
        optimizer.load_state_dict(payload[f"opt_{key}"])
        scheduler.load_state_dict(payload[f"sched_{key}"])
        _adopt_spec_hyperparameters(optimizer, scheduler, built)
    _restore_extras(modules.extras, payload.get("extras", {}))
    set_rng_states(payload["rng"])
    return int(payload["step"])


def _restore_extras(extras: dict, saved: dict) -> None:
    """Load each extra state the checkpoint holds; one the run has but the checkpoint lacks is an
    error (resuming without it would not be exact), one it holds that the run lacks is ignored."""
    missing = sorted(set(extras) - set(saved))
    if missing:
        raise RuntimeError(f"the checkpoint holds no {', '.join(missing)} state, which this run needs to resume "
                           "exactly: resume with the spec that wrote it, or start a new run")
    for name, state in extras.items():
        state.load_state_dict(saved[name])
