"""StyleGAN-lite: mapping/synthesis split, W truncation, keyed noise, AdaIN modulation."""
import pytest
import torch

from ganforge.config import ModelSpec
from ganforge.models import build_models
from ganforge.models.stylegan_lite import keyed_noise
from ganforge.sampling import interpolate

pytestmark = pytest.mark.unit

OPTS = {"ngf": 4, "ndf": 4, "w_dim": 8, "mapping_layers": 2, "w_avg_samples": 64}


def build(conditional=False, **extra):
    spec = ModelSpec(name="stylegan-lite", z_dim=6, conditional=conditional, options={**OPTS, **extra})
    G, D = build_models(spec, (1, 16, 16), 3)
    return G.eval(), D


def test_forward_is_mapping_then_synthesis():
    G, _ = build(conditional=True)
    z, y = torch.randn(3, 6), torch.tensor([0, 1, 2])
    w = G.mapping(z, y)
    assert w.shape == (3, 8)
    assert torch.allclose(G(z, y), G.synthesis(w, noise_key=z))


def test_w_truncation_moves_towards_the_mean():
    G, _ = build()
    z = torch.randn(4, 6)
    w_avg = G.mean_w()
    assert torch.allclose(G.generate_truncated(z, psi=0.0), G.synthesis(w_avg.expand(4, -1), noise_key=z))
    assert torch.allclose(G.generate_truncated(z, psi=1.0), G(z), atol=1e-6)
    far = (G.generate_truncated(z, psi=1.0) - G.generate_truncated(z, psi=0.0)).abs().mean()
    near = (G.generate_truncated(z, psi=0.5) - G.generate_truncated(z, psi=0.0)).abs().mean()
    assert near < far


def test_conditional_mean_w_is_per_class():
    G, _ = build(conditional=True)
    means = G.mean_w(torch.tensor([0, 1, 0]))
    assert torch.allclose(means[0], means[2]) and not torch.allclose(means[0], means[1])


def test_noise_is_keyed_per_sample_not_per_batch():
    keys = torch.randn(4, 6)
    whole = keyed_noise(keys, 1, 8)
    assert torch.equal(whole[2:], keyed_noise(keys[2:], 1, 8))  # independent of batch/sharding
    assert not torch.equal(whole[0], whole[1]) and not torch.equal(whole, keyed_noise(keys, 2, 8))
    G, _ = build()
    with torch.no_grad():
        for layer in G.layers:
            layer.noise_scale.fill_(1.0)
    z = torch.randn(4, 6)
    assert torch.allclose(G(z)[2:], G(z[2:]), atol=1e-6)  # same sample, same noise, whatever the batch


def test_noise_changes_output_only_when_scaled():
    G, _ = build()
    off, _ = build(noise_mode="off")
    off.load_state_dict(G.state_dict())
    z = torch.randn(2, 6)
    assert torch.allclose(G(z), off(z))  # noise scales start at zero
    with torch.no_grad():
        for model in (G, off):
            for layer in model.layers:
                layer.noise_scale.fill_(1.0)
    assert not torch.allclose(G(z), off(z))


def test_w_space_interpolation_runs():
    G, _ = build()
    frames = interpolate(G, 0, 1, 3, space="w")
    assert frames.shape[0] == 3 and frames.shape[1:] == (1, 16, 16)
