"""benchmarks/bench_train_overhead.py (its loops in train_overhead_loops.py) compares ganforge's
step with a plain loop that computes the same thing: this holds it to that. Its "same-math" plain
update, given the latents ganforge's step draws, ends a step with G, D, EMA-G and both optimizers bit for bit where GanStep ends it."""
from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest
import torch

from ganforge.config import ExperimentSpec
from ganforge.train.setup import build_modules, build_step

pytestmark = pytest.mark.unit

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "train_overhead_loops.py"


def bench():
    """The benchmark module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("train_overhead_loops", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def states(*objects) -> list[torch.Tensor]:
    """Every tensor of the modules' and optimizers' state dicts, in order."""
    out = []
    for obj in objects:
        state = obj.state_dict()
        if "state" in state:  # an optimizer
            state = {f"{k}.{n}": t for k, s in state["state"].items() for n, t in s.items()}
        out += [t for t in state.values() if torch.is_tensor(t)]
    return out


def one_step_each(same_math: bool):
    """(ganforge's state, the plain update's state) after one step from the same start."""
    spec = ExperimentSpec(model={"z_dim": 8, "options": {"ngf": 8, "ndf": 8}}, train={"batch_size": 8, "ema": 0.9})
    ours = build_modules(spec, (1, 16, 16), 0)
    G, D, G_ema = copy.deepcopy(ours.G), copy.deepcopy(ours.D), copy.deepcopy(ours.G_ema)
    opt_g = torch.optim.Adam(G.parameters(), lr=spec.optim.g.lr, betas=tuple(spec.optim.g.betas))
    opt_d = torch.optim.Adam(D.parameters(), lr=spec.optim.d.lr, betas=tuple(spec.optim.d.betas))
    step = build_step(spec, ours)
    real = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    z_d, z_g = step.latents(8, 0, "z-d0")[0], step.latents(8, 0, "z-g")[0]
    step([(real, torch.zeros(8, dtype=torch.long))], 0)
    bench().plain_update(G, D, G_ema, opt_g, opt_d, spec.train.ema)(real, z_d, z_g if same_math else None)
    return states(ours.G, ours.D, ours.G_ema, ours.opt_g, ours.opt_d), states(G, D, G_ema, opt_g, opt_d)


def test_the_same_math_plain_update_is_ganforges_step_bit_for_bit():
    ours, plain = one_step_each(same_math=True)
    assert len(ours) == len(plain) and all(torch.equal(a, b) for a, b in zip(ours, plain))

