"""Model families: each file registers one family that builds a (generator, discriminator) pair.

Contract (DESIGN.md): ``G(z, y=None) -> images in [-1, 1]`` of shape [B, C, H, W] with
attributes ``z_dim``, ``num_classes`` (0 when unconditional) and ``img_shape``;
``D(x, y=None) -> logits [B]`` (or a small result object with ``.logits``).

A registered family is a class with an ``Options`` pydantic model (its spec ``model.options``)
and a static ``build(spec: ModelSpec, img_shape, num_classes) -> (G, D)``.

A family's ``task`` class attribute says what it learns: absent (or ``"generate"``) for the
G(z, y) families above; ``"paired"`` for image-to-image families (pix2pix, srresnet, srgan) whose
``build(spec, input_shape, target_shape)`` returns G(x) -> y and D(x, y) (notes PAIRED.md); ``"unpaired"``
for two-domain families (cyclegan) whose ``build(spec, shape_a, shape_b)`` returns one module holding
both generators (``G(x, "a2b" | "b2a")``) and one holding both discriminators (``D(x, "a" | "b")``).
"""
from __future__ import annotations

from ganforge.autoload import import_submodules
from ganforge.registry import Registry

MODELS: Registry = Registry("model")


def family_task(family) -> str:
    """The task a registered family learns (``generate`` unless it says otherwise)."""
    return getattr(family, "task", "generate")


def families(task: str) -> list[str]:
    """Names of the registered families whose task is ``task``, sorted."""
    return [name for name, family in MODELS.items() if family_task(family) == task]


def build_models(spec, img_shape: tuple[int, int, int], num_classes: int):
    """Build (G, D) for ``spec`` (a ModelSpec) on data of ``img_shape`` with ``num_classes``."""
    family = MODELS.get(spec.name)
    if (task := family_task(family)) != "generate":
        raise ValueError(
            f"model {spec.name!r} is a {task} image-to-image family, not a G(z) generator; "
            f"set task: {task} in the spec (generate families: {', '.join(families('generate'))})"
        )
    classes = num_classes if spec.conditional else 0
    if spec.conditional and num_classes < 2:
        raise ValueError(
            f"model.conditional is true but the data set has {num_classes} classes; "
            "use a labelled data set or set model.conditional=false"
        )
    return family.build(spec, tuple(img_shape), classes)


import_submodules(__name__)
