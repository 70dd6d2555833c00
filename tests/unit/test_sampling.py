import pytest
import torch

from ganforge.config import ExperimentSpec
from ganforge.models import build_models
from ganforge.sampling import interpolate, latents, load_generator, sample_images
from ganforge.train.checkpoint import atomic_save, generator_state

pytestmark = pytest.mark.unit


def test_latents_seeded_and_truncated():
    assert torch.equal(latents(4, 8, seed=3), latents(4, 8, seed=3))
    assert not torch.equal(latents(4, 8, seed=3), latents(4, 8, seed=4))
    z = latents(256, 16, seed=0, truncation=0.5)
    assert z.abs().max() <= 0.5 and z.std() > 0.2  # resampled, not clamped to the bound


def test_checkpoint_dir_round_trip_and_sampling(tmp_path):
    spec = ExperimentSpec(model={"z_dim": 8, "conditional": True, "options": {"ngf": 8, "ndf": 8}})
    G, _ = build_models(spec.model, (1, 16, 16), 10)
    atomic_save(generator_state(G, spec.to_dict(), {"img_shape": [1, 16, 16], "num_classes": 10}, 5),
                tmp_path / "generator.pt")
    loaded = load_generator(str(tmp_path))
    assert loaded.info["step"] == 5 and not loaded.generator.training
    a = sample_images(loaded.generator, 6, seed=1, class_id=3)
    assert a.shape == (6, 1, 16, 16) and torch.equal(a, sample_images(loaded.generator, 6, seed=1, class_id=3))
    assert not torch.equal(a, sample_images(loaded.generator, 6, seed=1, class_id=4))
    with pytest.raises(ValueError, match="class_id 10"):
        sample_images(loaded.generator, 1, class_id=10)
    strip = interpolate(loaded.generator, 1, 2, steps=5)
    assert strip.shape == (5, 1, 16, 16)
    with pytest.raises(ValueError, match="style-based"):
        interpolate(loaded.generator, 1, 2, steps=5, space="w")


def test_unknown_source_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="neither an existing checkpoint path"):
        load_generator("no-such-thing")
