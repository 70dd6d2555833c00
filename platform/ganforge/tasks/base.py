"""The Task contract: everything the shared worker loop and reporter ask of a task.

A task is a class registered in ``TASKS``; it holds no state (``task_of`` makes an instance). Entries' ``task`` attributes say which task a model family or data set
belongs to (``getattr(entry, "task", "generate")``): ``check`` refuses a spec that mixes them.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn


def entry_task(entry: Any) -> str:
    """The task a registered model family or data set belongs to (generate unless it says)."""
    return getattr(entry, "task", "generate")


class Task:
    """Base of every task; the first docstring line of a subclass is what ``ganforge tasks`` lists."""

    name: str = ""
    default_metrics: tuple[str, ...] = ()

    def check(self, spec) -> None:
        """Raise ValueError (one line: what is wrong, how to fix it) when ``spec`` does not fit."""
        from ganforge.data import DATASETS
        from ganforge.models import MODELS

        for what, registry, name in (("model", MODELS, spec.model.name), ("data", DATASETS, spec.data.name)):
            found = entry_task(registry.get(name))
            if found != self.name:
                raise ValueError(f"{what}.name={name!r} is a {found} {registry.kind} but task={self.name!r}; "
                                 f"set task: {found}, or pick a {registry.kind} of task {self.name!r}")

    def meta(self, dataset) -> dict:
        """What a checkpoint and generator file record about the data (shapes, classes)."""
        return {"img_shape": list(dataset.img_shape), "num_classes": int(getattr(dataset, "num_classes", 0))}

    def build_modules(self, spec, meta: dict, world: int = 1, device: torch.device | str = "cpu"):
        """GanModules (G, D, EMA-G, optimizers, schedules), identically initialised on every rank."""
        raise NotImplementedError

    def build_step(self, spec, modules, rank: int = 0, world: int = 1, device: torch.device | str = "cpu") -> Callable:
        """The step: ``step(batches, step_index) -> {loss name: global mean value}``."""
        raise NotImplementedError

    def grid_inputs(self, spec, dataset, device) -> Any:
        """The fixed inputs every sample grid of a run is drawn from (so grids show progress)."""
        raise NotImplementedError

    def sample_grid(self, generator: nn.Module, inputs: Any) -> tuple[torch.Tensor, int]:
        """(images in [-1, 1] for one grid, images per row)."""
        raise NotImplementedError

    def planned_keys(self, spec) -> list[str]:
        """The keys periodic evaluation will report for ``spec`` (before any work: Tune's metric check)."""
        raise NotImplementedError

    def build_evaluator(self, spec, device) -> Callable:
        """``evaluate(generator, best) -> {metric: value}`` for periodic evaluation."""
        raise NotImplementedError

    def evaluate_commands(self, source: str) -> list[str]:
        """The `ganforge evaluate` line a person runs next on a trained model of this task."""
        return [f"ganforge evaluate {source} --metrics {','.join(self.default_metrics)}"]

    def build_generator(self, spec, meta: dict) -> nn.Module:
        """An untrained generator of the architecture a file with ``spec``/``meta`` holds."""
        raise NotImplementedError
