"""Paired metrics against hand-computed values and scikit-image; LPIPS' offline weights rule."""
from __future__ import annotations

import math

import pytest
import torch
from skimage.metrics import structural_similarity
from torchvision.models.vgg import cfgs, make_layers

from ganforge.metrics import WeightsNotFoundError
from ganforge.metrics.lpips import load_lpips, lpips
from ganforge.metrics.paired import ms_ssim, mse, psnr, ssim, ssim_components

pytestmark = pytest.mark.unit


def test_mse_and_psnr_by_hand():
    x = torch.zeros(2, 1, 4, 4)
    y = torch.full((2, 1, 4, 4), 0.1)
    y[1] = 0.2
    assert mse(x, y, reduction="none").tolist() == pytest.approx([0.01, 0.04])
    # PSNR = 10 log10(range^2 / MSE) with range 2 for [-1, 1] images
    assert psnr(x, y, reduction="none").tolist() == pytest.approx([10 * math.log10(4 / 0.01), 10 * math.log10(4 / 0.04)])
    assert psnr(x, y, data_range=1.0, reduction="none")[0].item() == pytest.approx(20.0)
    assert math.isinf(psnr(x, x).item())


def test_ssim_of_constant_images_by_hand():
    # No variance: the contrast-structure term is C2 / C2 = 1, so SSIM is the luminance term.
    a, b = 0.5, 0.25
    x, y = torch.full((1, 1, 11, 11), a), torch.full((1, 1, 11, 11), b)
    c1 = (0.01 * 2) ** 2
    assert ssim(x, y).item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-9)
    assert ssim(x, x).item() == pytest.approx(1.0)


def test_ssim_of_a_one_window_image_by_hand():
    # An 11x11 image is one window position: SSIM is the formula on Gaussian-weighted moments.
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(1, 1, 11, 11, generator=g) * 2 - 1, torch.rand(1, 1, 11, 11, generator=g) * 2 - 1
    t = torch.arange(11, dtype=torch.float64) - 5
    w = torch.exp(-t**2 / (2 * 1.5**2))
    w = torch.outer(w, w) / torch.outer(w, w).sum()
    xd, yd = x[0, 0].double(), y[0, 0].double()
    mx, my = (w * xd).sum(), (w * yd).sum()
    vx, vy = (w * xd * xd).sum() - mx**2, (w * yd * yd).sum() - my**2
    cxy = (w * xd * yd).sum() - mx * my
    c1, c2 = 0.02**2, 0.06**2
    expected = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert ssim(x, y).item() == pytest.approx(expected.item(), rel=1e-9)


def test_ssim_matches_scikit_image():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    y = (x + 0.3 * torch.randn(1, 3, 32, 32, generator=g)).clamp(-1, 1)
    reference = structural_similarity(x[0].double().numpy(), y[0].double().numpy(), channel_axis=0, data_range=2.0,
                                      gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(x, y).item() == pytest.approx(reference, rel=1e-6)


def test_ms_ssim_is_the_weighted_product_over_scales():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 1, 24, 24, generator=g) * 2 - 1
    y = (x + 0.2 * torch.randn(2, 1, 24, 24, generator=g)).clamp(-1, 1)
    _, cs_fine = ssim_components(x, y, win_size=5)
    coarse, _ = ssim_components(torch.nn.functional.avg_pool2d(x, 2), torch.nn.functional.avg_pool2d(y, 2), win_size=5)
    expected = cs_fine.clamp_min(0) ** 0.4 * coarse.clamp_min(0) ** 0.6
    got = ms_ssim(x, y, win_size=5, weights=(0.4, 0.6), reduction="none")
    assert got.tolist() == pytest.approx(expected.tolist(), rel=1e-9)
    assert ms_ssim(x, x, win_size=5, weights=(0.4, 0.6)).item() == pytest.approx(1.0)


def test_ms_ssim_says_how_large_images_must_be():
    x = torch.zeros(1, 1, 32, 32)
    with pytest.raises(ValueError, match="at least 161 px"):
        ms_ssim(x, x)


def test_lpips_without_weights_names_files_and_env_vars(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GANFORGE_VGG16_WEIGHTS", raising=False)
    with pytest.raises(WeightsNotFoundError) as error:
        lpips(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
    message = str(error.value)
    assert "vgg16-397923af.pth" in message and "GANFORGE_VGG16_WEIGHTS" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message and "never downloads" in message


def test_lpips_from_local_files(tmp_path):
    torch.manual_seed(0)
    backbone = {f"features.{k}": v for k, v in make_layers(cfgs["D"]).state_dict().items()}
    linear = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate((64, 128, 256, 512, 512))}
    torch.save(backbone, tmp_path / "vgg16-397923af.pth")
    torch.save(linear, tmp_path / "weights-vgg16-lpips.pth")
    network = load_lpips(tmp_path, tmp_path)  # a directory holding the file works too
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    y = x.flip(-1)
    assert lpips(x, x, network).item() == pytest.approx(0.0, abs=1e-7)
    distances = lpips(x, y, network, reduction="none")
    assert distances.shape == (2,) and bool((distances > 0).all())
