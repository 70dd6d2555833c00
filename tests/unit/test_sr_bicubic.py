"""models/bicubic.py against PIL's bicubic resize (the SR baseline), and its kernel by hand."""
import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.models.bicubic import bicubic_resize, keys_cubic, resample_matrix

pytestmark = pytest.mark.unit


def test_keys_kernel_values_by_hand():
    assert keys_cubic(0) == 1 and keys_cubic(1) == 0 and keys_cubic(2) == 0 and keys_cubic(-2.5) == 0
    assert keys_cubic(0.5) == pytest.approx(0.5625) and keys_cubic(1.5) == pytest.approx(-0.0625)  # a = -0.5


@pytest.mark.parametrize("size_in,scale", [(6, 4), (16, 4), (9, 2)])
def test_rows_sum_to_one_and_upsampling_matches_pil_within_a_grey_level(size_in, scale):
    assert torch.allclose(resample_matrix(size_in, size_in * scale).sum(1), torch.ones(size_in * scale, dtype=torch.float64))
    pixels = np.random.default_rng(size_in).integers(0, 256, (size_in, size_in + 1, 3), dtype=np.uint8)
    size = (size_in * scale, (size_in + 1) * scale)
    wanted = np.asarray(Image.fromarray(pixels).resize(size[::-1], Image.BICUBIC)).astype(np.float64)
    ours = bicubic_resize(torch.from_numpy(pixels).permute(2, 0, 1)[None].double(), size, (0, 255))[0].permute(1, 2, 0)
    ours = ours.clamp(0, 255).round().numpy()
    assert np.abs(ours - wanted).max() <= 1 and np.abs(ours - wanted).mean() < 0.3  # noise: PIL rounds between passes
