"""PSNR-Y / SSIM-Y in BasicSR's convention, against BasicSR's own numbers, scikit-image and by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ganforge.metrics.paired import ms_ssim
from ganforge.metrics.sr_convention import crop_border, psnr_y, sr_y, ssim_y, to_8bit, y_channel

pytestmark = pytest.mark.unit

# Made with BasicSR's own calculate_psnr / calculate_ssim (XPixelGroup/BasicSR @ 8d56e3a,
# basicsr/metrics/psnr_ssim.py imported from the fetched snapshot with numpy + cv2 only) on the
# arrays `case` builds, as BGR uint8 HWC, with crop_border=scale and test_y_channel=True.
BASICSR = {
    ("astronaut-rgb", 4): (31.030923321762355, 0.7992242828916734),
    ("chelsea-rgb", 2): (31.035704015740304, 0.8411973734729203),
    ("camera-grey", 3): (26.70449579685934, 0.716920120985259),
}
CROPS = {  # (image, rows, columns): photos scikit-image ships
    "astronaut-rgb": (data.astronaut, slice(100, 148), slice(200, 240)),
    "chelsea-rgb": (data.chelsea, slice(50, 114), slice(100, 164)),
    "camera-grey": (data.camera, slice(200, 233), slice(300, 347)),
}


def case(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(target, output) uint8 HWC (or HW): a photo crop and the crop plus a fixed +-20 pattern."""
    load, rows, cols = CROPS[name]
    target = load()[rows, cols]
    h, w = target.shape[:2]
    c = target.shape[2] if target.ndim == 3 else 1
    pattern = (np.arange(h)[:, None, None] * 31 + np.arange(w)[None, :, None] * 17 + np.arange(c) * 7) % 41 - 20
    output = np.clip(target.astype(np.int16) + pattern.reshape(target.shape), 0, 255).astype(np.uint8)
    return target, output


def as_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 HWC / HW -> [1, C, H, W] in [-1, 1] (ganforge's image convention)."""
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].double() / 127.5 - 1


@pytest.mark.parametrize("name,scale", sorted(BASICSR))
def test_psnr_y_and_ssim_y_equal_basicsr(name, scale):
    target, output = case(name)
    psnr, ssim = BASICSR[(name, scale)]
    # BasicSR's Y passes through float32; ours is float64: equal to ~1e-6 dB
    assert psnr_y(as_tensor(output), as_tensor(target), scale).item() == pytest.approx(psnr, abs=1e-5)
    assert ssim_y(as_tensor(output), as_tensor(target), scale).item() == pytest.approx(ssim, abs=1e-6)


@pytest.mark.parametrize("name,scale", sorted(BASICSR))
def test_psnr_y_and_ssim_y_equal_scikit_image_on_the_y_channel(name, scale):
    target, output = case(name)
    y_out, y_target = (sr_y(as_tensor(a), scale)[0, 0].numpy() for a in (output, target))
    psnr = peak_signal_noise_ratio(y_target, y_out, data_range=255)
    ssim = structural_similarity(y_target, y_out, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)
    assert psnr_y(as_tensor(output), as_tensor(target), scale).item() == pytest.approx(psnr, abs=1e-5)
    assert ssim_y(as_tensor(output), as_tensor(target), scale).item() == pytest.approx(ssim, abs=1e-9)


def test_y_channel_is_bt601_studio_swing_by_hand():
    colours = torch.tensor([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=torch.float64)
    y = y_channel(colours.T.reshape(1, 3, 5, 1)).flatten().tolist()
    assert y == pytest.approx([235.0, 16.0, 16 + 65.481, 16 + 128.553, 16 + 24.966])
    grey = torch.arange(6, dtype=torch.float64).view(1, 1, 2, 3)
    assert torch.equal(y_channel(grey), grey)  # a grey image is its own Y (BasicSR's to_y_channel)


def test_to_8bit_rounds_and_clamps_like_a_saved_image():
    images = torch.tensor([-2.0, -1.0, 0.0, 0.003, 0.9999, 1.0, 3.0]).view(1, 1, 1, 7)
    # 0 -> 127.5 rounds to even (128); 0.003 -> 127.88 -> 128; 0.9999 -> 254.99 -> 255
    assert to_8bit(images).flatten().tolist() == [0, 0, 128, 128, 255, 255, 255]


def test_a_difference_below_half_a_grey_level_does_not_count():
    target = as_tensor(case("chelsea-rgb")[0])
    nudged = target + 0.4 / 127.5  # 0.4 of one 8-bit step: the saved image is the same
    assert math.isinf(psnr_y(nudged, target, 2).item())
    assert ssim_y(nudged, target, 2).item() == pytest.approx(1.0)


def test_the_border_cropped_is_scale_pixels():
    target = as_tensor(case("chelsea-rgb")[0])
    for scale in (2, 4):
        damaged = target.clone()
        damaged[..., :scale, :] = -damaged[..., :scale, :]  # top rows ruined, exactly `scale` of them
        damaged[..., :, -scale:] = -damaged[..., :, -scale:]
        assert math.isinf(psnr_y(damaged, target, scale).item())  # all of it inside the cropped border
        assert psnr_y(damaged, target, scale - 1).item() < 30  # one pixel less cropped: it counts
    assert crop_border(target, 3).shape[-2:] == (58, 58)


def test_crop_larger_than_the_image_says_so():
    with pytest.raises(ValueError, match="cannot crop 4 px"):
        psnr_y(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), 4)


def test_ms_ssim_equals_piq_where_piq_follows_wang():
    import piq

    # Even sizes at every scale: piq's halving equals Wang's (it zero-pads only odd sizes).
    target = to_8bit(as_tensor(data.astronaut()[:256, 128:384]))
    output = to_8bit(as_tensor(case("astronaut-rgb")[1].repeat(6, 0).repeat(7, 1)[:256, :256]))
    output = (0.7 * target + 0.3 * output).round()
    ours = ms_ssim(output, target, data_range=255.0).item()
    theirs = piq.multi_scale_ssim(output, target, data_range=255.0).item()
    # piq takes the product over scales per channel, then the channel mean; ours the reverse
    assert ours == pytest.approx(theirs, abs=1e-4)
    assert 0.3 < ours < 0.99
