"""InfoGAN: codes, Q head, MI loss decreasing on a fixed batch, one training step."""
import copy

import pytest
import torch

from ganforge.config import ExperimentSpec, ModelSpec
from ganforge.losses.info import info_loss
from ganforge.models import build_models
from ganforge.models.infogan import continuous_codes
from ganforge.sampling import sample_images
from ganforge.train.setup import build_modules, build_step

pytestmark = pytest.mark.unit

OPTS = {"ngf": 4, "ndf": 4, "n_categories": 3, "n_cont": 2, "q_hidden": 8}


def build():
    torch.manual_seed(0)
    return build_models(ModelSpec(name="infogan", z_dim=6, options=OPTS), (1, 16, 16), 0)


def test_shapes_codes_and_q_head():
    G, D = build()
    assert (G.z_dim, G.num_classes, G.img_shape) == (8, 3, (1, 16, 16))
    z, y = torch.randn(5, 8), torch.tensor([0, 1, 2, 0, 1])
    images = G(z, y)
    assert images.shape == (5, 1, 16, 16) and images.abs().max() <= 1
    cat, cont = G.codes(z, y)
    assert torch.equal(cat, y) and torch.allclose(cont, continuous_codes(z[:, 6:]))
    out = D(images)
    assert out.logits.shape == (5,) and out.q_cat.shape == (5, 3) and out.q_cont.shape == (5, 2)


def test_codes_change_the_image_and_can_be_fixed():
    G, _ = build()
    G.eval()
    z = torch.randn(2, 8)
    assert not torch.allclose(G(z, torch.tensor([0, 0])), G(z, torch.tensor([1, 1])))
    fixed = G.latent_with_codes(z, torch.tensor([[0.5, -0.25], [0.5, -0.25]]))
    assert torch.allclose(G.codes(fixed, torch.tensor([0, 0]))[1], torch.tensor([[0.5, -0.25]] * 2), atol=1e-5)
    assert sample_images(G, 4, class_id=2).shape == (4, 1, 16, 16)


def test_continuous_codes_are_uniform():
    u = continuous_codes(torch.randn(20000, 1, generator=torch.Generator().manual_seed(0)))
    assert u.abs().max() < 1 and u.mean().abs() < 0.02 and (u.var() - 1 / 3).abs() < 0.02


def test_conditional_is_refused():
    with pytest.raises(ValueError, match="unconditional"):
        build_models(ModelSpec(name="infogan", conditional=True, options=OPTS), (1, 16, 16), 10)


def test_mi_loss_decreases_on_a_fixed_batch():
    G, D = build()
    z, y = torch.randn(16, 8, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 3
    params = list(G.parameters()) + list(D.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        fake = G(z, y)
        loss = info_loss(z, y, D(fake), lambda_cont=1.0)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_info_loss_needs_infogan():
    with pytest.raises(ValueError, match="infogan"):
        info_loss(torch.zeros(2, 8), torch.zeros(2, dtype=torch.long), torch.zeros(2), 1.0)


def test_the_family_adds_the_info_regularizer_and_a_listed_one_keeps_its_weight():
    base = {"data": {"name": "digits"}, "model": {"name": "infogan", "options": OPTS}}
    added = ExperimentSpec(**base).loss.regularizers
    assert [(r.name, r.weight) for r in added] == [("info", 1.0)]
    listed = ExperimentSpec(**base, loss={"regularizers": [{"name": "info", "weight": 0.5}]}).loss.regularizers
    assert [(r.name, r.weight) for r in listed] == [("info", 0.5)]
    assert ExperimentSpec(data={"name": "digits"}).loss.regularizers == []


def test_one_training_step_with_the_info_regularizer():
    spec = ExperimentSpec(data={"name": "digits", "resolution": 16},
                          model={"name": "infogan", "z_dim": 6, "options": OPTS},
                          loss={"name": "non-saturating", "regularizers": [{"name": "info", "weight": 1.0}]},
                          train={"steps": 2, "batch_size": 4, "ema": 0.9})
    modules = build_modules(spec, (1, 16, 16), 10)
    before_q = copy.deepcopy(modules.D.q.state_dict())
    before_g = copy.deepcopy(modules.G.state_dict())
    metrics = build_step(spec, modules)([(torch.rand(4, 1, 16, 16) * 2 - 1, torch.arange(4))], 0)
    assert {"d_info", "g_info"} <= set(metrics) and all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert any(not torch.equal(before_q[k], v) for k, v in modules.D.q.state_dict().items())
    assert any(not torch.equal(before_g[k], v) for k, v in modules.G.state_dict().items() if v.is_floating_point())
