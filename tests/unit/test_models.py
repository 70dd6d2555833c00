import pytest
import torch

from ganforge.config import ModelSpec
from ganforge.models import MODELS, build_models

pytestmark = pytest.mark.unit

CASES = [("gan", {}, 16), ("cgan", {}, 16), ("dcgan", {"ngf": 8, "ndf": 8}, 32),
         ("dcgan", {"ngf": 8, "ndf": 8, "spectral_norm_d": True, "spectral_norm_g": True}, 64)]


@pytest.mark.parametrize("name,options,res", CASES)
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_range(name, options, res, channels):
    conditional = name == "cgan"
    spec = ModelSpec(name=name, z_dim=12, conditional=conditional, options=options)
    G, D = build_models(spec, (channels, res, res), 10)
    z = torch.randn(5, 12)
    y = torch.randint(0, 10, (5,)) if conditional else None
    images = G(z, y)
    assert images.shape == (5, channels, res, res)
    assert images.min() >= -1 and images.max() <= 1
    assert G.z_dim == 12 and G.img_shape == (channels, res, res) and G.num_classes == (10 if conditional else 0)
    assert D(images, y).shape == (5,)


@pytest.mark.parametrize("name", ["gan", "dcgan"])
def test_conditional_labels_change_outputs(name):
    spec = ModelSpec(name=name, z_dim=8, conditional=True, options={"ngf": 8, "ndf": 8} if name == "dcgan" else {})
    G, D = build_models(spec, (1, 16, 16), 10)
    G.eval()
    z = torch.randn(4, 8)
    a, b = G(z, torch.zeros(4, dtype=torch.long)), G(z, torch.ones(4, dtype=torch.long))
    assert not torch.allclose(a, b)
    x = torch.randn(4, 1, 16, 16)
    assert not torch.allclose(D(x, torch.zeros(4, dtype=torch.long)), D(x, torch.ones(4, dtype=torch.long)))
    with pytest.raises(ValueError, match="conditional"):
        G(z)


def test_spectral_norm_bounds_d_layers():
    spec = ModelSpec(name="dcgan", options={"ngf": 8, "ndf": 8, "spectral_norm_d": True, "d_norm": "none"})
    _, D = build_models(spec, (1, 16, 16), 0)
    for _ in range(20):  # power iteration converges over forward passes
        D(torch.randn(2, 1, 16, 16))
    conv = D.trunk[0]
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
    assert sigma == pytest.approx(1.0, abs=0.05)


def test_conditional_needs_labels():
    with pytest.raises(ValueError, match="classes"):
        build_models(ModelSpec(name="dcgan", conditional=True), (1, 32, 32), 0)


def test_dcgan_rejects_odd_resolution():
    with pytest.raises(ValueError, match="power-of-two"):
        build_models(ModelSpec(name="dcgan"), (1, 24, 24), 0)


def test_every_model_has_a_docstring_line():
    for name, family in MODELS.items():
        assert (family.__doc__ or "").strip(), name
