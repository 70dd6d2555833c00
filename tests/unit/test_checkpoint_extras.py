"""Extra training state (an image pool, ADA's p, a GradScaler) travels in the checkpoint."""
import pytest
import torch
from torch import nn

from ganforge.train.checkpoint import load_checkpoint, restore, save_checkpoint
from ganforge.train.step import GanModules


class Counter:
    """A stateful extra: what a pool or an augmentation probability looks like to a checkpoint."""

    def __init__(self, value: float = 0.0):
        self.value = value

    def state_dict(self) -> dict:
        return {"value": torch.tensor(self.value)}

    def load_state_dict(self, state: dict) -> None:
        self.value = float(state["value"])


def modules(**extras) -> GanModules:
    G, D = nn.Linear(2, 2), nn.Linear(2, 1)
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1)
    const = lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)  # noqa: E731
    return GanModules(G, D, None, opt_g, opt_d, const(opt_g), const(opt_d), extras=dict(extras))


def test_extras_are_saved_and_restored(tmp_path):
    save_checkpoint(modules(p=Counter(0.37)), 5, {}, {}, tmp_path)
    resumed = modules(p=Counter(0.0))
    assert restore(resumed, load_checkpoint(tmp_path)) == 5
    assert resumed.extras["p"].value == pytest.approx(0.37)


def test_a_checkpoint_without_an_extra_the_run_needs_is_refused(tmp_path):
    save_checkpoint(modules(), 5, {}, {}, tmp_path)
    with pytest.raises(RuntimeError, match="holds no p state"):
        restore(modules(p=Counter()), load_checkpoint(tmp_path))
