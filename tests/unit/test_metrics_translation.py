"""evaluate_translation on toy translators over a small fake PairedDataset of real photo crops."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data
from torchvision.models.vgg import cfgs, make_layers

from ganforge.metrics import WeightsNotFoundError
from ganforge.metrics.lpips import LPIPS
from ganforge.metrics.paired import MS_SSIM_WEIGHTS
from ganforge.metrics.translation import (
    bicubic_upsample, directions, evaluate_translation, fitting_ms_ssim_weights, planned_keys,
)

pytestmark = pytest.mark.unit

PER_IMAGE = ["psnr_y", "ssim_y", "ms_ssim", "l1"]
HIGHER = ("psnr_y", "ssim_y", "ms_ssim")


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 HWC -> float32 CHW in [-1, 1]."""
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 127.5 - 1


class FakePairs(torch.utils.data.Dataset):
    """The PairedDataset contract in small: 32 px crops of photos scikit-image ships.

    scale > 1: inputs are the crops bicubic-downsampled (SR); scale 1: the crops blurred, with
    ``grey_inputs`` as one channel (a same-size translation whose input is not the target).
    """

    task = "paired"
    num_classes = 0

    def __init__(self, scale: int, n: int = 6, size: int = 32, grey_inputs: bool = False):
        photos = [data.astronaut(), data.chelsea(), data.coffee()]
        self.targets = [photos[i % 3][37 * i + 20:37 * i + 20 + size, 23 * i + 40:23 * i + 40 + size] for i in range(n)]
        low = size // scale
        self.inputs = [np.asarray(Image.fromarray(t).resize((low, low), Image.BICUBIC)) for t in self.targets]
        if scale == 1:
            self.inputs = [np.asarray(Image.fromarray(t).resize((8, 8), Image.BILINEAR).resize((size, size), Image.BILINEAR))
                           for t in self.targets]
        if grey_inputs:
            self.inputs = [i.mean(axis=2, keepdims=True).round().astype(np.uint8) for i in self.inputs]
        self.scale, self.seed, self.epoch = scale, 0, 0
        self.input_shape = (1 if grey_inputs else 3, low, low)
        self.img_shape = (3, size, size)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i):
        return to_tensor(self.inputs[i]), to_tensor(self.targets[i])


def bicubic(pairs):
    """The SR baseline as a translator."""
    return lambda x: bicubic_upsample(x, pairs.img_shape[-2:]).float()


def oracle(pairs, damage=None):
    """A translator that returns each input's target (then ``damage(target)``): a perfect model."""
    table = {pairs[i][0].numpy().tobytes(): pairs[i][1] for i in range(len(pairs))}

    def translate(x):
        out = torch.stack([table[row.cpu().numpy().tobytes()] for row in x])
        return damage(out) if damage else out
    return translate


class ToyExtractor:
    """A deterministic stand-in feature network: 4x4 average-pooled pixels (48 features)."""

    metric_tag = "toy"

    def features(self, images):
        return {"pool": F.adaptive_avg_pool2d(images.float(), 4).flatten(1)}


@pytest.mark.parametrize("scale", [2, 4])
def test_sr_baseline_equals_the_metric_when_translate_is_bicubic(scale):
    pairs = FakePairs(scale)
    values = evaluate_translation(bicubic(pairs), pairs, scale, PER_IMAGE + ["fid"], batch_size=4,
                                  extractor=ToyExtractor())
    for key in PER_IMAGE + ["toy.fid"]:
        assert values[key] == values[f"baseline.{key}"]
    assert 20 < values["psnr_y"] < 45 and 0.3 < values["ssim_y"] < 1  # a bicubic figure, not a degenerate one


def test_translation_baseline_is_the_input_and_equals_identity():
    pairs = FakePairs(1)
    values = evaluate_translation(lambda x: x, pairs, 1, PER_IMAGE, batch_size=4)
    assert all(values[key] == values[f"baseline.{key}"] for key in PER_IMAGE)
    assert values["psnr_y"] < 35  # the blurred input is not the target


def test_grey_inputs_get_an_rgb_identity_baseline():
    pairs = FakePairs(1, grey_inputs=True)
    values = evaluate_translation(lambda x: x.expand(-1, 3, -1, -1), pairs, 1, PER_IMAGE, batch_size=4)
    assert all(values[key] == values[f"baseline.{key}"] for key in PER_IMAGE)


@pytest.mark.parametrize("scale", [1, 4])
def test_a_worse_translator_scores_worse_and_a_perfect_one_perfectly(scale):
    pairs = FakePairs(scale)
    # x4: nearest-neighbour upsampling; same size: the input darkened by half
    nearest = (lambda x: F.interpolate(x, scale_factor=scale, mode="nearest")) if scale > 1 else (lambda x: (x - 1) / 2)
    worse = evaluate_translation(nearest, pairs, scale, PER_IMAGE, batch_size=4)
    for key in HIGHER:
        assert worse[key] < worse[f"baseline.{key}"], key
    assert worse["l1"] > worse["baseline.l1"]
    # the toy features are 8x8-block means, which nearest upsampling keeps: FID sees a darkened baseline
    base = bicubic(pairs) if scale > 1 else (lambda x: x)
    darker = evaluate_translation(lambda x: (base(x) - 1) / 2, pairs, scale, ["fid"], extractor=ToyExtractor())
    assert darker["toy.fid"] > 10 * darker["baseline.toy.fid"] > 0
    perfect = evaluate_translation(oracle(pairs), pairs, scale, PER_IMAGE + ["fid"], batch_size=4,
                                   extractor=ToyExtractor())
    assert math.isinf(perfect["psnr_y"]) and perfect["ssim_y"] == pytest.approx(1.0)
    assert perfect["ms_ssim"] == pytest.approx(1.0) and perfect["l1"] == 0
    assert perfect["toy.fid"] == pytest.approx(0.0, abs=1e-5) and perfect["baseline.toy.fid"] > 1e-3


@pytest.mark.parametrize("scale", [2, 4])
def test_border_cropping_uses_the_scale(scale):
    pairs = FakePairs(scale)

    def ruin(width):
        def damage(out):
            out = out.clone()
            out[..., :width, :] = -out[..., :width, :]
            out[..., :, -width:] = -out[..., :, -width:]
            return out
        return damage

    inside = evaluate_translation(oracle(pairs, ruin(scale)), pairs, scale, ["psnr_y", "ssim_y", "l1"])
    assert math.isinf(inside["psnr_y"]) and inside["ssim_y"] == pytest.approx(1.0)
    assert inside["l1"] > 0  # L1 is not cropped: it sees the ruined border
    beyond = evaluate_translation(oracle(pairs, ruin(scale + 1)), pairs, scale, ["psnr_y"])
    assert beyond["psnr_y"] < 30


def test_outputs_are_rounded_to_8_bits():
    pairs = FakePairs(2)
    nudged = evaluate_translation(oracle(pairs, lambda out: out + 0.45 / 127.5), pairs, 2, PER_IMAGE)
    assert math.isinf(nudged["psnr_y"]) and nudged["l1"] == 0  # under half a grey level: the same saved image
    moved = evaluate_translation(oracle(pairs, lambda out: out + 0.55 / 127.5), pairs, 2, PER_IMAGE)
    assert moved["psnr_y"] < 60 and moved["l1"] > 0


def test_fid_with_the_standard_inception_keeps_the_plain_key():
    pairs = FakePairs(4, n=3)
    values = evaluate_translation(bicubic(pairs), pairs, 4, ["fid"], batch_size=3)
    assert set(values) == {"fid", "baseline.fid"} and values["fid"] == values["baseline.fid"] > 0


def fake_lpips() -> LPIPS:
    """LPIPS with random (seeded) VGG16 and linear weights: the computation without the real files."""
    torch.manual_seed(0)
    backbone = {f"features.{k}": v for k, v in make_layers(cfgs["D"]).state_dict().items()}
    linear = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate((64, 128, 256, 512, 512))}
    return LPIPS(backbone, linear)


def test_lpips_beside_its_baseline():
    pairs = FakePairs(2, n=4)
    network = fake_lpips()
    perfect = evaluate_translation(oracle(pairs), pairs, 2, ["lpips"], lpips_network=network)
    assert perfect["lpips"] == pytest.approx(0.0, abs=1e-6) and perfect["baseline.lpips"] > 1e-3


def test_missing_lpips_weights_fail_before_any_image(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GANFORGE_VGG16_WEIGHTS", raising=False)
    calls = []
    with pytest.raises(WeightsNotFoundError, match="GANFORGE_VGG16_WEIGHTS"):
        evaluate_translation(lambda x: calls.append(x), FakePairs(2), 2, ["psnr_y", "lpips"])
    assert calls == []


def test_bad_requests_say_what_is_wrong():
    pairs = FakePairs(2)
    with pytest.raises(KeyError, match="valid: fid, l1, lpips, ms_ssim, psnr_y, ssim_y"):
        evaluate_translation(bicubic(pairs), pairs, 2, ["psnr"])
    with pytest.raises(ValueError, match="scale 4 does not map inputs of 16x16 px to targets of 32x32 px"):
        evaluate_translation(bicubic(pairs), pairs, 4, ["psnr_y"])
    with pytest.raises(ValueError, match=r"maps inputs \(4, 3, 16, 16\) to \(4, 3, 16, 16\)"):
        evaluate_translation(lambda x: x, pairs, 2, ["psnr_y"], batch_size=4)
    with pytest.raises(ValueError, match="needs at least 2 pairs, got 1"):
        evaluate_translation(bicubic(pairs), FakePairs(2, n=1), 2, ["fid"], extractor=ToyExtractor())
    with pytest.raises(ValueError, match="no pairs to evaluate"):
        evaluate_translation(bicubic(pairs), FakePairs(2, n=0), 2, ["psnr_y"])


def test_a_module_is_evaluated_in_eval_mode_and_left_as_it_was():
    pairs = FakePairs(1)
    model = torch.nn.Sequential(torch.nn.Dropout(0.9), torch.nn.Identity()).train()
    values = evaluate_translation(model, pairs, 1, ["l1"])
    assert values["l1"] == values["baseline.l1"]  # no dropout at evaluation: the model is the identity
    assert model.training


def test_ms_ssim_uses_the_scales_the_size_allows():
    assert fitting_ms_ssim_weights(256) == pytest.approx(MS_SSIM_WEIGHTS)
    four = MS_SSIM_WEIGHTS[:4]
    assert fitting_ms_ssim_weights(96) == pytest.approx([w / sum(four) for w in four])
    with pytest.raises(ValueError, match="at least 11 px"):
        fitting_ms_ssim_weights(8)


def test_planned_keys_are_the_keys_returned_and_say_their_direction():
    pairs = FakePairs(2, n=4)
    metrics = ["psnr_y", "ssim_y", "ms_ssim", "l1", "fid"]
    values = evaluate_translation(bicubic(pairs), pairs, 2, metrics, extractor=ToyExtractor())
    assert planned_keys(metrics, "toy") == list(values)
    assert directions() == {"psnr_y": False, "ssim_y": False, "ms_ssim": False, "l1": True, "lpips": True, "fid": True}
