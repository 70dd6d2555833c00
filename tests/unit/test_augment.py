"""Albumentations presets, pipeline building and 2.x parameter validation."""
import numpy as np
import pytest

from ganforge.augment import PRESETS, build_pipeline, validate_transform
from ganforge.config import AugmentSpec, SpecError, spec_from_dict

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("preset", ["blur", "blur+flip", "blur+flip+affine"])
@pytest.mark.parametrize("channels", [1, 3])
def test_presets_build_and_run(preset, channels):
    pipeline = build_pipeline(AugmentSpec(preset=preset))
    image = np.random.default_rng(0).integers(0, 256, (32, 32, channels), dtype=np.uint8)
    out = pipeline(image=image)["image"]
    assert out.shape == image.shape and out.dtype == np.uint8


def test_preset_names_and_none():
    assert set(PRESETS.names()) == {"none", "blur", "blur+flip", "blur+flip+affine"}
    assert build_pipeline(AugmentSpec()) is None
    for name, entry in PRESETS.items():
        assert entry.__doc__, name


def test_extra_transforms_are_appended():
    spec = AugmentSpec(preset="blur", transforms=[{"name": "VerticalFlip", "params": {"p": 1.0}}])
    pipeline = build_pipeline(spec)
    assert [type(t).__name__ for t in pipeline.transforms] == ["GaussianBlur", "GaussNoise", "VerticalFlip"]
    only = build_pipeline(AugmentSpec(transforms=[{"name": "VerticalFlip"}]))
    image = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    assert len(only.transforms) == 1 and only(image=image)["image"].shape == (4, 4, 1)


def test_1x_parameter_names_are_rejected_naming_the_key():
    with pytest.raises(ValueError, match=r"var_limit.*std_range.*valid:.*std_range"):
        validate_transform("GaussNoise", {"var_limit": (10, 50)})
    with pytest.raises(ValueError, match=r"cval.*fill"):
        validate_transform("Affine", {"rotate": 5, "cval": 0})
    with pytest.raises(ValueError, match="mode"):
        validate_transform("Affine", {"mode": 4})


def test_unknown_class_and_bad_values():
    with pytest.raises(ValueError, match="GaussNoise"):
        validate_transform("GausNoise", {})
    with pytest.raises(ValueError, match="not an Albumentations"):
        validate_transform("Compose", {})  # a class, but not a transform
    with pytest.raises(ValueError, match="rotate"):
        validate_transform("Affine", {"rotate": "a lot"})


def test_valid_2x_transform_passes():
    validate_transform("GaussNoise", {"std_range": [0.01, 0.05], "p": 0.5})
    validate_transform("Affine", {"rotate": [-3, 3], "fill": 0, "border_mode": 4})


def test_spec_rejects_bad_transform_and_preset():
    with pytest.raises(SpecError, match="var_limit"):
        spec_from_dict({"augment": {"transforms": [{"name": "GaussNoise", "params": {"var_limit": [10, 50]}}]}})
    with pytest.raises(SpecError, match="blur\\+flip"):
        spec_from_dict({"augment": {"preset": "blurr"}})


# What each preset holds, and how each transform must visibly act (with p forced to 1).
PRESET_TRANSFORMS = {
    "none": [],
    "blur": ["GaussianBlur", "GaussNoise"],
    "blur+flip": ["GaussianBlur", "GaussNoise", "HorizontalFlip"],
    "blur+flip+affine": ["GaussianBlur", "GaussNoise", "HorizontalFlip", "Affine"],
}


def probe_image() -> np.ndarray:
    """32x32 grey texture (high frequencies) with a bright square left of centre (asymmetric)."""
    image = np.random.default_rng(0).integers(64, 192, (32, 32, 1)).astype(np.uint8)
    image[8:15, 4:11] = 255
    return image


def high_frequency_energy(image: np.ndarray) -> float:
    """Energy of horizontal and vertical pixel differences."""
    x = image[..., 0].astype(float)
    return float((np.diff(x, axis=0) ** 2).sum() + (np.diff(x, axis=1) ** 2).sum())


def bright_centroid(image: np.ndarray) -> np.ndarray:
    """(row, column) centroid of the square's pixels (above the texture's range)."""
    rows, cols = np.nonzero(image[..., 0] > 200)
    return np.array([rows.mean(), cols.mean()])


def mirrors(image, out):
    assert np.array_equal(out, image[:, ::-1]), "HorizontalFlip must mirror the image"


def blurs(image, out):
    assert high_frequency_energy(out) < 0.9 * high_frequency_energy(image), "GaussianBlur must smooth"


def adds_noise(image, out):
    residual = out.astype(float) - image.astype(float)
    assert 0 < np.abs(residual).mean() < 0.05 * 255, "GaussNoise must add mild noise"
    assert abs(residual.mean()) < 0.01 * 255, "GaussNoise must be zero-mean"


def moves_content(image, out):
    assert not np.array_equal(out, image) and not np.array_equal(out, image[:, ::-1])
    assert np.abs(bright_centroid(out) - bright_centroid(image)).max() > 0.25, "Affine must move the content"


EFFECTS = {"HorizontalFlip": mirrors, "GaussianBlur": blurs, "GaussNoise": adds_noise, "Affine": moves_content}


def test_presets_hold_the_transforms_they_document():
    assert set(PRESET_TRANSFORMS) == set(PRESETS.names())
    for name, expected in PRESET_TRANSFORMS.items():
        assert [type(t).__name__ for t in PRESETS.get(name)()] == expected, name


@pytest.mark.parametrize("preset", [name for name, transforms in PRESET_TRANSFORMS.items() if transforms])
def test_each_transform_of_a_preset_acts_as_it_should(preset):
    import copy

    import albumentations as A

    image = probe_image()
    for transform in PRESETS.get(preset)():
        forced = copy.deepcopy(transform)
        forced.p = 1.0  # the preset's p only decides how often; here: what it does when it fires
        out = A.Compose([forced], seed=0)(image=image)["image"]
        assert out.shape == image.shape and out.dtype == image.dtype
        name = type(transform).__name__
        assert name in EFFECTS, f"add a check of what {name} does to EFFECTS in tests/unit/test_augment.py"
        EFFECTS[name](image, out)
