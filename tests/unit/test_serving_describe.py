"""GET /v1/models states each model's task from the generator itself (as its MLflow pyfunc does)."""
import importlib

import pytest
from torch import nn

from ganforge.commands.serve import serving_module

serving_module()  # serving/ sits beside platform/ (not installed): this puts the checkout on the path
describe_task = importlib.import_module("serving.translate").describe_task

pytestmark = pytest.mark.unit


class Plain(nn.Module):
    """A G(z) as an adapted generator is: no task of its own (its spec's task is adapt)."""


class Paired(nn.Module):
    task, input_shape, scale = "paired", (1, 8, 8), 2


class Unpaired(nn.Module):
    task, shapes = "unpaired", {"a2b": ((1, 8, 8), (3, 8, 8)), "b2a": ((3, 8, 8), (1, 8, 8))}


def test_each_generator_describes_its_own_task():
    assert describe_task(Plain()) == {"task": "generate", "input_shape": None, "scale": None}
    assert describe_task(Paired()) == {"task": "paired", "input_shape": [1, 8, 8], "scale": 2}
    unpaired = describe_task(Unpaired())
    assert unpaired["task"] == "unpaired" and unpaired["directions"]["b2a"]["input_shape"] == [3, 8, 8]
