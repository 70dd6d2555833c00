"""ADA's 'bgc' pipeline: identity at p = 0, differentiable, DDP-split exact, each transform does what it says."""
import pytest
import torch

from ganforge.augment.ada import ADA_PIPELINES, COLOR, GEOMETRIC, Draw, _colour, _geometry, ada_augment, members
from ganforge.noise import BatchRandom

pytestmark = pytest.mark.unit


def images(b=6, c=3, size=16, seed=0):
    return torch.rand(b, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_p_zero_is_the_identity_and_p_positive_changes_images():
    x = images()
    assert ada_augment(x, 0.0, BatchRandom(0, 0, "aug")) is x
    y = ada_augment(x, 0.8, BatchRandom(0, 0, "aug"))
    assert y.shape == x.shape and (y - x).abs().mean() > 0.05


def test_at_a_tiny_p_no_transform_fires_and_the_pipeline_is_exact_identity():
    # The full path (matrices, grid_sample, colour matmul) runs but every transform is off.
    x = images()
    assert torch.allclose(ada_augment(x, 1e-9, BatchRandom(0, 0, "aug")), x, atol=1e-5)


@pytest.mark.parametrize("channels", [1, 3])
def test_gradients_flow_to_the_input(channels):
    x = images(c=channels).requires_grad_(True)
    y = ada_augment(x, 1.0, BatchRandom(1, 2, "aug"))
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_split_across_two_workers_equals_whole_batch():
    x = images(b=8)
    whole = ada_augment(x, 0.7, BatchRandom(3, 7, "aug", 0, 1))
    parts = [ada_augment(x[rank::2], 0.7, BatchRandom(3, 7, "aug", rank, 2)) for rank in range(2)]
    interleaved = torch.empty_like(whole)
    interleaved[0::2], interleaved[1::2] = parts
    assert torch.equal(whole, interleaved)


def test_deterministic_given_the_rng():
    x = images()
    a = ada_augment(x, 0.5, BatchRandom(1, 5, "aug"))
    assert torch.equal(a, ada_augment(x, 0.5, BatchRandom(1, 5, "aug")))
    assert not torch.equal(a, ada_augment(x, 0.5, BatchRandom(1, 6, "aug")))


def test_bgc_is_the_papers_twelve_transforms_in_the_references_order():
    geometric, colour = members("bgc")
    assert geometric == ["xflip", "rotate90", "xint", "scale", "rotate", "aniso", "rotate_post", "xfrac"]
    assert colour == ["brightness", "contrast", "lumaflip", "hue", "saturation"]
    assert set(ADA_PIPELINES.names()) >= {"blit", "geom", "color", "bg", "bgc"}


def _always(name: str, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """``x`` through transform ``name`` alone, fired on every image (p = 1)."""
    draw = Draw(BatchRandom(seed, 0, "aug"), x.shape[0], x.shape[2], x.shape[3], x.shape[1])
    if name in GEOMETRIC:
        return _geometry(x, GEOMETRIC.get(name)(draw, 1.0))
    return _colour(x, COLOR.get(name)(draw, 1.0))


def test_xflip_and_rotate90_permute_pixels_exactly():
    x = images(b=32, c=1, size=8)
    for out, src in zip(_always("xflip", x), x):
        assert torch.allclose(out, src, atol=1e-5) or torch.allclose(out, src.flip(-1), atol=1e-5)
    for out, src in zip(_always("rotate90", x), x):
        assert any(torch.allclose(out, torch.rot90(src, k, (-2, -1)), atol=1e-5) for k in range(4))


def test_integer_translation_shifts_by_whole_pixels_within_an_eighth():
    x = torch.zeros(16, 1, 16, 16)
    x[:, :, 8, 8] = 1.0  # one bright pixel: it must land on a pixel centre within 2 pixels
    out = _always("xint", x)
    assert torch.allclose(out.sum(dim=(1, 2, 3)), torch.ones(16), atol=1e-5)
    peaks = out.flatten(1).argmax(dim=1)
    rows, cols = peaks // 16, peaks % 16
    assert (out.flatten(1).max(dim=1).values > 0.999).all()
    assert ((rows - 8).abs() <= 2).all() and ((cols - 8).abs() <= 2).all()


def test_brightness_and_contrast_change_the_mean_and_spread_lumaflip_inverts_grey():
    x = images(b=64, c=3)
    shift = (_always("brightness", x) - x).mean(dim=(1, 2, 3))
    assert 0.1 < shift.std() < 0.3  # std 0.2
    ratio = _always("contrast", x).std(dim=(1, 2, 3)) / x.std(dim=(1, 2, 3))
    assert 0.4 < ratio.log2().std() < 0.6  # log2 std 0.5
    grey = torch.full((8, 3, 4, 4), 0.3)
    flipped = _always("lumaflip", grey)
    assert all(torch.allclose(f, g) or torch.allclose(f, -g, atol=1e-6) for f, g in zip(flipped, grey))


def test_hue_and_saturation_keep_luma_and_leave_grey_images_alone():
    x = images(b=8, c=3)
    for name in ("hue", "saturation"):
        out = _always(name, x)
        assert torch.allclose(out.mean(dim=1), x.mean(dim=1), atol=1e-5)  # rotation / scaling about luma
        grey = images(b=8, c=1)
        assert torch.allclose(_always(name, grey), grey, atol=1e-6)


def test_unknown_pipeline_names_the_valid_ones():
    with pytest.raises(KeyError, match="bgc"):
        members("bgcx")


def test_the_spec_takes_ada_and_refuses_it_beside_diffaugment_or_with_an_unknown_pipeline():
    from ganforge.config import SpecError, spec_from_dict

    spec = spec_from_dict({"augment": {"ada": {"target": 0.6}}, "train": {"stop_on": ["collapse", "divergence"]}})
    assert (spec.augment.ada.target, spec.augment.ada.interval, spec.augment.ada.kimg) == (0.6, 4, 500.0)
    with pytest.raises(SpecError, match="augment.ada and augment.diffaugment are both set; use one per run"):
        spec_from_dict({"augment": {"ada": {}, "diffaugment": "color"}})
    with pytest.raises(SpecError, match=r"augment.ada.pipeline: unknown ADA pipeline 'bgcx'; valid: bg, bgc"):
        spec_from_dict({"augment": {"ada": {"pipeline": "bgcx"}}})
    with pytest.raises(SpecError, match=r"train.stop_on: unknown monitor 'colapse'; valid: collapse, divergence"):
        spec_from_dict({"train": {"stop_on": ["colapse"]}})
