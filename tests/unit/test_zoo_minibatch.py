"""Minibatch discrimination: hand computation, batch dependence, use in DCGAN and SNGAN."""
import pytest
import torch

from ganforge.config import ModelSpec
from ganforge.models import build_models
from ganforge.models.minibatch import MinibatchDiscrimination

pytestmark = pytest.mark.unit


def test_closeness_by_hand():
    layer = MinibatchDiscrimination(2, kernels=1, kernel_dim=2)
    with torch.no_grad():
        layer.T.copy_(torch.eye(2))
    h = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    out = layer(h)
    assert torch.equal(out[:, :2], h)
    e = torch.exp
    expected = torch.stack([e(torch.tensor(-1.0)) + e(torch.tensor(-2.0)),
                            e(torch.tensor(-1.0)) + e(torch.tensor(-3.0)),
                            e(torch.tensor(-2.0)) + e(torch.tensor(-3.0))])
    assert torch.allclose(out[:, 2], expected)


def test_identical_batch_is_recognised():
    layer = MinibatchDiscrimination(4, kernels=3, kernel_dim=2)
    same = layer(torch.ones(5, 4))[:, 4:]
    diverse = layer(torch.randn(5, 4) * 10)[:, 4:]
    assert torch.allclose(same, torch.full_like(same, 4.0)) and (diverse < same).all()


@pytest.mark.parametrize("name,options", [("dcgan", {"ngf": 4, "ndf": 4, "minibatch_kernels": 3}),
                                          ("sngan", {"g_ch": 2, "d_ch": 2, "minibatch_kernels": 3})])
def test_d_output_depends_on_the_rest_of_the_batch(name, options):
    _, D = build_models(ModelSpec(name=name, options=options), (3, 32, 32), 0)
    D.eval()
    # untrained D features can be huge: rescale them so the kernels stay in exp's range
    scale = {}
    D.mbd.register_forward_pre_hook(lambda module, args: (args[0] / scale.setdefault("s", args[0].abs().max()),))
    seen = []
    D.mbd.register_forward_hook(lambda module, args, out: seen.append(out[:, -3:]))
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    D(x), D(x[:2])  # the whole batch first: it fixes the (shared) scale
    assert not torch.allclose(seen[1], seen[0][:2])  # closeness counts the other samples
    assert sum(isinstance(m, MinibatchDiscrimination) for m in D.modules()) == 1
