"""Content networks: frozen, VGG19 conv5_4 from a local file only, the Inception port otherwise,
and a missing weights file is a WeightsNotFoundError naming the file and the env var."""
import tempfile
import warnings

import pytest
import torch
from torch import nn

from ganforge.losses.perceptual import VGG19, build_content_network
from ganforge.metrics.weights import INCEPTION_PORT, WeightsNotFoundError, find_weights

pytestmark = pytest.mark.unit


@pytest.fixture
def no_vgg_on_disk(tmp_path, monkeypatch):
    """Nothing named, nothing in the torch hub or ganforge caches: auto must fall back."""
    monkeypatch.delenv(VGG19.env_var, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A torchvision VGG19 state dict (random weights: the file format is what matters) on disk."""
    from torchvision.models import vgg19

    torch.manual_seed(0)
    reference = vgg19(weights=None).eval()
    path = tmp_path_factory.mktemp("vgg") / VGG19.filename
    torch.save({k: v for k, v in reference.state_dict().items() if k.startswith("features.")}, path)
    return path, reference


def assert_frozen(net: nn.Module):
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    net.train()  # a parent module switching to train mode must not wake its batch norms
    assert not net.training and all(not m.training for m in net.modules())


def test_auto_without_vgg_weights_is_the_installed_inception_cut_mid_level(no_vgg_on_disk):
    net = build_content_network()
    assert net.name == "inception"
    assert_frozen(net)
    images = (torch.rand(2, 3, 96, 96) * 2 - 1).requires_grad_()
    features = net(images)
    assert features.shape == (2, 768, 4, 4)  # Mixed_6e: mid-level, still a spatial map
    features.square().mean().backward()
    assert images.grad.abs().sum() > 0  # the loss reaches the generator's output
    assert net(torch.rand(2, 1, 32, 32) * 2 - 1).shape[:2] == (2, 768)  # grey, below Inception's 75 px


def test_inception_trunk_is_the_ports_network_with_its_preprocessing(no_vgg_on_disk):
    """Our trunk, continued through the port's last blocks, gives the port's own 2048-d features."""
    from ganforge.metrics.extractor_inception import _GraphOnly, port_weights_in_torch_fidelity_layout

    port_path = find_weights(INCEPTION_PORT)
    net = build_content_network("inception")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save({}, f"{tmp}/empty.pth")
        rest = _GraphOnly("inception-v3-compat", ["2048"], feature_extractor_weights_path=f"{tmp}/empty.pth")
        port = torch.jit.load(str(port_path), map_location="cpu")
    nn.Module.load_state_dict(rest, port_weights_in_torch_fidelity_layout(port_path))
    pixels = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8)
    with torch.no_grad():
        h = net(pixels.float() / 127.5 - 1)
        ours = rest.AvgPool(rest.Mixed_7c(rest.Mixed_7b(rest.Mixed_7a(h)))).flatten(1)
        theirs = port((pixels.float() - 128) / 128)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)


def test_vgg19_is_conv5_4_before_relu_of_torchvision_vgg19_rescaled(vgg_file, no_vgg_on_disk):
    path, reference = vgg_file
    net = build_content_network("auto", path)
    assert net.name == "vgg19"
    assert_frozen(net)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference.features[:35](((images + 1) / 2 - mean) / std)  # torchvision's preprocessing
        features = net(images)
    assert isinstance(reference.features[34], nn.Conv2d) and reference.features[34].out_channels == 512
    torch.testing.assert_close(features, expected / 12.75, rtol=1e-4, atol=1e-5)
    assert features.shape == (2, 512, 2, 2) and (features < 0).any()  # before the ReLU


def test_vgg19_weights_come_from_the_env_var(vgg_file, no_vgg_on_disk, monkeypatch):
    monkeypatch.setenv(VGG19.env_var, str(vgg_file[0]))
    assert build_content_network().name == "vgg19"


def test_a_missing_vgg_file_is_named_never_replaced(tmp_path, no_vgg_on_disk, monkeypatch):
    missing = tmp_path / "nowhere" / "vgg19.pth"
    for name in ("vgg19", "auto"):  # auto must not fall back to Inception when a path was given
        with pytest.raises(WeightsNotFoundError, match=f"{VGG19.filename}.*{VGG19.env_var}"):
            build_content_network(name, missing)
    monkeypatch.setenv(VGG19.env_var, str(missing))
    with pytest.raises(WeightsNotFoundError, match=str(missing)):
        build_content_network()
    monkeypatch.delenv(VGG19.env_var)
    with pytest.raises(WeightsNotFoundError, match=VGG19.env_var):
        build_content_network("vgg19")


def test_a_file_that_is_not_vgg19_is_a_clear_error(tmp_path, no_vgg_on_disk):
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="not a torchvision VGG19 state dict"):
        build_content_network("vgg19", path)


def test_unknown_network_lists_the_valid_ones():
    with pytest.raises(KeyError, match="inception, vgg19"):
        build_content_network("resnet")
