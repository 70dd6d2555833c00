"""Adversarial losses and composable regularizers, each in a registry.

A loss object has ``d_loss(real_out, fake_out)`` and ``g_loss(fake_out, real_out)`` (real_out
is only computed in the G step when ``uses_real_in_g`` is true: relativistic losses). The step
calls them without knowing which loss it is. Regularizers add terms to the D and/or G objective
or act after the D update (weight clipping); see ``regularizers.Regularizer``.
Every term is a mean over the batch, so averaging gradients over DDP workers equals the
single-process gradient of the whole batch.
"""
from __future__ import annotations

from ganforge.autoload import import_submodules
from ganforge.registry import Registry

LOSSES: Registry = Registry("loss")
REGULARIZERS: Registry = Registry("regularizer")


def logits_of(output):
    """D's logits whether D returned a tensor or a result object with ``.logits``."""
    return getattr(output, "logits", output)


def build_loss(spec):
    """(loss object, [regularizer objects]) for a LossSpec: built-in regularizers first."""
    loss_cls = LOSSES.get(spec.name)
    loss = loss_cls(**spec.options)
    wanted = [(r["name"], r.get("weight", 1.0), r.get("options", {})) for r in loss.builtin_regularizers()]
    wanted += [(r.name, r.weight, r.options) for r in spec.regularizers]
    regularizers = []
    for name, weight, options in wanted:
        regularizer = REGULARIZERS.get(name)(weight, **options)
        regularizer.name = name  # metric keys: d_<name>, g_<name>
        regularizers.append(regularizer)
    return loss, regularizers


import_submodules(__name__)
