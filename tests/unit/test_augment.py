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
