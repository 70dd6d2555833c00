"""The contract of an adaptation method (an ``ADAPT_METHODS`` entry): the adapted generator's
architecture, the modules the loop trains, and the step. Methods hold no state; their settings
(``adapt.settings``) are validated by the method's ``Options``."""
from __future__ import annotations

from typing import Callable

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn


class NoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdaptMethod:
    """Base of every adaptation method."""

    Options: type[BaseModel] = NoSettings
    needs_discriminator: bool = False  # whether the source's D is loaded and trained
    recommended: dict = {}  # spec settings the method fills where a spec leaves them unset

    def options(self, spec) -> BaseModel:
        """The method's validated settings of ``spec``."""
        return self.Options(**spec.adapt.settings)

    def check(self, spec) -> None:
        """Raise ValueError (one line: what is wrong, how to fix it) when ``spec`` does not fit."""

    def check_source(self, spec, weights) -> None:
        """Raise ValueError when the source (adapt/source.py's SourceWeights) cannot be adapted so."""

    def build_generator(self, spec, source: nn.Module, family: str, meta: dict) -> nn.Module:
        """The adapted generator's architecture around ``source`` (an untrained or pretrained G)."""
        return source

    def build_modules(self, spec, weights, meta: dict, world: int, device: torch.device | str):
        """GanModules the loop trains, starting from the source's weights."""
        raise NotImplementedError

    def build_step(self, spec, modules, rank: int, world: int, device: torch.device | str) -> Callable:
        """``step(batches, step_index) -> {loss name: global mean value}``."""
        raise NotImplementedError
