"""The generator's MLflow pyfunc: what its input holds, its signature and input example, the model.
Each task has its own input and output (:data:`TASK_IO`, chosen by the generator's ``task``).

Generate task (G(z, y)). Input: a pandas DataFrame, one row per image, with the columns the generator needs:

- ``z``: list of floats, length ``G.z_dim`` (the generator's own, which for InfoGAN is the
  noise plus the continuous codes, not the spec's ``model.z_dim``);
- ``class_id``: int in ``0..G.num_classes-1``, present (and required) only for generators
  with labels: conditional models, and InfoGAN, whose categorical code is the class label;
- ``codes``: list of floats in (-1, 1), optional, only for generators with continuous codes
  (InfoGAN): they replace the code part of ``z`` (``G.latent_with_codes``).

Output: float32 images ``[n, C, H, W]`` in [-1, 1]. Over REST (``mlflow models serve``):
``{"dataframe_records": [{"z": [...], "class_id": 3}]}``. The logged model's ``metadata`` repeats
``z_dim``, ``num_classes``, ``num_codes`` and ``img_shape``.

Paired task (G(x) -> y: pix2pix, SRResNet, SRGAN). Input: a float32 array ``[n, C, h, w]`` in
[-1, 1] of the generator's ``input_shape``; output: float32 ``[n, C', H, W]`` in [-1, 1] of its
``img_shape`` (H = scale x h). Over REST: ``{"inputs": [[[[...]]]]}``. The ``metadata`` states
``task``, ``input_shape``, ``img_shape`` and ``scale``.

Unpaired task (G_AB and G_BA: CycleGAN). Input: a float32 array ``[n, C, h, w]`` in [-1, 1] of the
direction's input shape; ``params={"direction": "a2b" | "b2a"}`` picks the direction (default a2b,
domain A -> B); output: the other domain's images. Over REST: ``{"inputs": [...], "params":
{"direction": "b2a"}}``. The ``metadata`` states ``task``, ``shape_a``, ``shape_b`` and ``directions``.

The model is logged from code (``pyfunc_model.py`` calls ``set_model``): nothing is pickled; the
weights are the ``generator.pt`` artifact, rebuilt from its spec on load.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, NamedTuple

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec
from mlflow.types.schema import Array

Z, CLASS_ID, CODES = "z", "class_id", "codes"
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")  # the models-from-code file MLflow logs


def num_codes(generator: torch.nn.Module) -> int:
    """How many continuous codes the generator takes beside z's noise (InfoGAN's n_cont; else 0)."""
    return int(getattr(generator, "n_cont", 0)) if hasattr(generator, "latent_with_codes") else 0


def describe(generator: torch.nn.Module) -> dict:
    """What a caller needs to know to build the input: z_dim, num_classes, num_codes, img_shape."""
    return {"z_dim": int(generator.z_dim), "num_classes": int(generator.num_classes),
            "num_codes": num_codes(generator), "img_shape": [int(s) for s in generator.img_shape]}


def signature(generator: torch.nn.Module) -> ModelSignature:
    """Columns this generator needs (see the module docstring) -> images [-1, C, H, W] float32."""
    columns = [ColSpec(Array(DataType.double), Z)]
    if generator.num_classes:
        columns.append(ColSpec(DataType.long, CLASS_ID))
    if num_codes(generator):
        columns.append(ColSpec(Array(DataType.double), CODES, required=False))
    output = TensorSpec(np.dtype(np.float32), (-1, *generator.img_shape))
    return ModelSignature(inputs=Schema(columns), outputs=Schema([output]))


def input_example(generator: torch.nn.Module, rows: int = 2) -> pd.DataFrame:
    """Seeded rows of every column the signature names (labels 0, 1, ...; codes spread over (-1, 1))."""
    z = np.random.default_rng(0).standard_normal((rows, generator.z_dim)).astype(np.float32)
    example = {Z: list(z)}
    if generator.num_classes:
        example[CLASS_ID] = [i % generator.num_classes for i in range(rows)]
    if n := num_codes(generator):
        example[CODES] = list(np.linspace(-0.5, 0.5, rows * n, dtype=np.float32).reshape(rows, n))
    return pd.DataFrame(example)


def _matrix(column: pd.Series, width: int, name: str) -> torch.Tensor:
    """A column of equal-length float lists as a [rows, width] tensor; a wrong length is an error."""
    rows = [np.asarray(value, dtype=np.float32).reshape(-1) for value in column]
    bad = next((len(row) for row in rows if len(row) != width), None)
    if bad is not None:
        raise ValueError(f"column {name!r} needs {width} floats per row, got {bad}: "
                         "see the model's signature or metadata")
    return torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, width)


def _labels(frame: pd.DataFrame, num_classes: int) -> torch.Tensor | None:
    """The ``class_id`` column as a label tensor, checked against the generator's classes."""
    if not num_classes:
        return None
    if CLASS_ID not in frame:
        raise ValueError(f"this generator needs a {CLASS_ID!r} column (0..{num_classes - 1})")
    labels = torch.tensor(frame[CLASS_ID].to_numpy(dtype=np.int64))
    if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < num_classes):
        raise ValueError(f"{CLASS_ID} must lie in 0..{num_classes - 1}")
    return labels


def _every_row(column: pd.Series) -> pd.Series:
    """``column`` if every row has a value; codes for some rows only would be ambiguous."""
    if column.isna().any():
        raise ValueError(f"column {column.name!r} needs a value in every row (or leave the column out)")
    return column


def predict_latents(G: torch.nn.Module, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
    """Generate task: images for each row's latent (and label, and codes where G takes them)."""
    z = _matrix(model_input[Z], G.z_dim, Z)
    y = _labels(model_input, G.num_classes)
    if (n := num_codes(G)) and CODES in model_input:
        z = G.latent_with_codes(z, _matrix(_every_row(model_input[CODES]), n, CODES))
    with torch.no_grad():
        return G(z, y).float().numpy()


# ---------------------------------------------------------------- paired task: image batch in, image batch out
def describe_paired(generator: torch.nn.Module) -> dict:
    """What a caller of a paired model needs: task, input_shape, img_shape (output), scale."""
    return {"task": "paired", "input_shape": [int(s) for s in generator.input_shape],
            "img_shape": [int(s) for s in generator.img_shape], "scale": int(generator.scale)}


def signature_paired(generator: torch.nn.Module) -> ModelSignature:
    """float32 [-1, C, h, w] in [-1, 1] (the input shape) -> float32 [-1, C', H, W] (the output shape)."""
    inputs = TensorSpec(np.dtype(np.float32), (-1, *generator.input_shape))
    outputs = TensorSpec(np.dtype(np.float32), (-1, *generator.img_shape))
    return ModelSignature(inputs=Schema([inputs]), outputs=Schema([outputs]))


def input_example_paired(generator: torch.nn.Module, rows: int = 2) -> np.ndarray:
    """A seeded batch of inputs in [-1, 1] of the generator's input shape."""
    return np.random.default_rng(0).uniform(-1, 1, (rows, *generator.input_shape)).astype(np.float32)


def image_batch(model_input: Any, shape: tuple, what: str) -> torch.Tensor:
    """``model_input`` as a float32 batch [n, *shape] (one image: a batch of one); a wrong shape
    is an error naming the shape wanted (``what``: where it comes from)."""
    x = np.asarray(model_input, dtype=np.float32)
    if x.ndim == 3:  # one image: a batch of one
        x = x[None]
    if tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"input must be float32 [n, {', '.join(map(str, shape))}] in [-1, 1] "
                         f"({what}), got {list(x.shape)}: see the model's signature or metadata")
    return torch.from_numpy(x)


def predict_images(G: torch.nn.Module, model_input: Any, params: dict | None = None) -> np.ndarray:
    """Paired task: G(x) for a batch x [n, C, h, w] in [-1, 1]; a wrong shape is an error naming it."""
    x = image_batch(model_input, G.input_shape, "the model's input_shape")
    with torch.no_grad():
        return G(x).float().numpy()


# ---------------------------------------------------------------- unpaired task: either direction
DIRECTION = "direction"


def describe_unpaired(generator: torch.nn.Module) -> dict:
    """What a caller of an unpaired model needs: each domain's shape and the directions."""
    return {"task": "unpaired", "shape_a": [int(s) for s in generator.shape_a],
            "shape_b": [int(s) for s in generator.shape_b], "directions": list(generator.shapes), "scale": 1}


def _either(shape_a: tuple, shape_b: tuple) -> tuple:
    """A tensor shape both domains fit: a dimension where they differ is -1 (variable)."""
    return tuple(a if a == b else -1 for a, b in zip(shape_a, shape_b))


def signature_unpaired(generator: torch.nn.Module) -> ModelSignature:
    """float32 [-1, C, H, W] in [-1, 1] in and out (either domain's), and a ``direction`` parameter."""
    shape = (-1, *_either(generator.shape_a, generator.shape_b))
    tensor = TensorSpec(np.dtype(np.float32), shape)
    return ModelSignature(inputs=Schema([tensor]), outputs=Schema([tensor]),
                          params=ParamSchema([ParamSpec(DIRECTION, DataType.string, "a2b")]))


def input_example_unpaired(generator: torch.nn.Module, rows: int = 2) -> np.ndarray:
    """A seeded batch of domain A images in [-1, 1] (the default direction's input)."""
    return np.random.default_rng(0).uniform(-1, 1, (rows, *generator.shape_a)).astype(np.float32)


def predict_unpaired(G: torch.nn.Module, model_input: Any, params: dict | None = None) -> np.ndarray:
    """Unpaired task: G_AB(x) or, with ``params={"direction": "b2a"}``, G_BA(x)."""
    direction = (params or {}).get(DIRECTION) or "a2b"
    if direction not in G.shapes:
        raise ValueError(f"params.direction must be one of {', '.join(G.shapes)}, got {direction!r}")
    x = image_batch(model_input, G.shapes[direction][0], f"the {direction} input shape")
    with torch.no_grad():
        return G(x, direction).float().numpy()


class TaskIO(NamedTuple):
    """How one task's generator is called through the pyfunc: its signature, example, metadata, predict."""

    signature: Callable[[torch.nn.Module], ModelSignature]
    input_example: Callable[[torch.nn.Module], Any]
    describe: Callable[[torch.nn.Module], dict]
    predict: Callable[[torch.nn.Module, Any], np.ndarray]


TASK_IO: dict[str, TaskIO] = {
    "generate": TaskIO(signature, input_example, describe, predict_latents),
    "paired": TaskIO(signature_paired, input_example_paired, describe_paired, predict_images),
    "unpaired": TaskIO(signature_unpaired, input_example_unpaired, describe_unpaired, predict_unpaired),
}


def io_of(generator: torch.nn.Module) -> TaskIO:
    """The pyfunc input/output of the generator's task (``generator.task``; generate when absent)."""
    task = getattr(generator, "task", "generate")
    if task not in TASK_IO:
        raise ValueError(f"no MLflow pyfunc for task {task!r} (pyfunc tasks: {', '.join(TASK_IO)})")
    return TASK_IO[task]


class GeneratorModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc over a ganforge generator: its task's input (the DataFrame of latents, or an
    image batch for paired models) -> images [n, C, H, W] in [-1, 1]."""

    def load_context(self, context) -> None:
        """Rebuild the generator from the ``generator`` artifact (spec + weights, weights_only)."""
        from ganforge.sampling import generator_from_payload
        from ganforge.train.checkpoint import load_checkpoint

        self.generator = generator_from_payload(load_checkpoint(context.artifacts["generator"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        """The task's images: see the module docstring. (A paired or unpaired model takes an
        ndarray; the DataFrame hint only tells MLflow to leave the input as it comes; ``params``:
        an unpaired model's direction.)"""
        return io_of(self.generator).predict(self.generator, model_input, params)
