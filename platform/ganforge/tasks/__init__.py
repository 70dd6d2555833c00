"""Tasks: what a spec learns. Each module registers one ``Task`` (tasks/base.py).

``generate`` learns G(z, y) (every model family of the zoo); ``paired`` learns G(input) -> target
from (input, target) pairs (pix2pix, SRResNet, SRGAN); ``unpaired`` learns G_AB: A -> B and
G_BA: B -> A from two domains whose images do not correspond (CycleGAN); ``adapt`` adapts a trained generator to a
few images (ganforge.adapt: bsa, finetune, freezed). A task owns its data contract, its step,
its sample grid, its periodic evaluation and how its generator is rebuilt from a file; the
worker loop, checkpoints, EMA, MLflow, Tune and submit are shared and never branch on a task name.
"""
from __future__ import annotations

from ganforge.autoload import import_submodules
from ganforge.registry import Registry

TASKS: Registry = Registry("task")


def task_of(spec):
    """The registered Task a spec (ExperimentSpec) names (tasks hold no state: a fresh instance)."""
    return TASKS.get(spec.task)()


import_submodules(__name__)
