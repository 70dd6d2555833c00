"""Bundled data sets, ImageDataset and seeded augmentation."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ganforge.augment import build_pipeline
from ganforge.config import AugmentSpec, DataSpec, spec_from_dict
from ganforge.data import DATASETS, DataError, ImageDataset, build_dataset
from ganforge.data.entry import DataSet
from ganforge.data.base import to_tensor
from ganforge.data.shapes import KINDS, draw_shapes

pytestmark = pytest.mark.unit


def check_items(dataset, shape, n=4):
    for i in range(n):
        x, y = dataset[i]
        assert x.dtype == torch.float32 and tuple(x.shape) == shape
        assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0
        assert isinstance(y, int)


@pytest.mark.parametrize("name, n, channels, classes", [
    ("digits", 1797, 1, 10),
    ("lfw-faces", 100, 1, 0),
])
def test_bundled_sets(name, n, channels, classes):
    dataset = build_dataset(DataSpec(name=name))
    assert len(dataset) == n and dataset.img_shape == (channels, 32, 32) and dataset.num_classes == classes
    assert dataset.labels.dtype == np.int64 and len(dataset.labels) == n
    check_items(dataset, (channels, 32, 32))


def test_digits_labels_and_full_range():
    dataset = build_dataset(DataSpec(name="digits", resolution=8))
    assert set(dataset.labels.tolist()) == set(range(10))
    assert dataset.images.min() == 0 and dataset.images.max() == 255  # 16 levels stretched to 0..255


def test_resolution_channels_and_limit():
    dataset = build_dataset(DataSpec(name="digits", resolution=16, channels=3, limit=10))
    assert len(dataset) == 10 and dataset.img_shape == (3, 16, 16)
    x, _ = dataset[0]
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])  # grey repeated to RGB


def test_shapes_labels_resolution_and_seed():
    spec = DataSpec(name="shapes", resolution=48, options={"n": 60, "seed": 3})
    dataset = build_dataset(spec)
    assert dataset.img_shape == (3, 48, 48) and dataset.num_classes == len(KINDS) == 6
    assert dataset.class_names == list(KINDS)
    check_items(dataset, (3, 48, 48))
    assert np.array_equal(build_dataset(spec).images, dataset.images)
    other = build_dataset(DataSpec(name="shapes", resolution=48, options={"n": 60, "seed": 4}))
    assert not np.array_equal(other.images, dataset.images)


def test_shapes_limit_keeps_the_prefix_and_grey_conversion():
    full, labels = draw_shapes(40, 32, seed=0)
    limited = build_dataset(DataSpec(name="shapes", limit=5, options={"n": 40}))
    assert np.array_equal(limited.images, full[:5]) and np.array_equal(limited.labels, labels[:5])
    grey = build_dataset(DataSpec(name="shapes", channels=1, limit=5, options={"n": 40}))
    assert grey.img_shape == (1, 32, 32)


def test_data_options_are_checked():
    with pytest.raises(ValueError, match="takes no options"):
        build_dataset(DataSpec(name="digits", options={"n": 3}))
    with pytest.raises(ValueError, match="seeed"):
        build_dataset(DataSpec(name="shapes", options={"seeed": 3}))


def test_every_entry_has_a_docstring_line():
    for name, builder in DATASETS.items():
        assert builder.__doc__ and builder.__doc__.strip().splitlines()[0], name


def test_unknown_data_set_in_spec_lists_valid_names():
    with pytest.raises(Exception, match="digits"):
        spec_from_dict({"data": {"name": "digitz"}})


def test_empty_data_set_is_an_error():
    class Empty(DataSet):
        """Nothing."""

        def read(self, found, spec):
            return ImageDataset(np.zeros((0, 8, 8, 1), np.uint8))

    DATASETS.register("_test-empty")(Empty())
    try:
        with pytest.raises(DataError, match="no images"):
            build_dataset(DataSpec.model_construct(**{**DataSpec().model_dump(), "name": "_test-empty"}))
    finally:
        DATASETS._entries.pop("_test-empty")


def augmented_digits(preset="blur+flip+affine", seed=0):
    dataset = build_dataset(DataSpec(name="digits", limit=32))
    dataset.set_transform(build_pipeline(AugmentSpec(preset=preset)))
    dataset.seed = seed
    return dataset


def batch(dataset):
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def test_augmentation_is_deterministic_per_seed_epoch_index():
    dataset = augmented_digits()
    first = batch(dataset)
    assert torch.equal(batch(dataset), first)  # same (seed, epoch, index): same image
    assert torch.equal(dataset[5][0], first[5])  # order of access does not matter
    dataset.set_epoch(1)
    changed = (batch(dataset) != first).flatten(1).any(1)
    assert changed.float().mean() > 0.5  # a new epoch draws new augmentations
    dataset.set_epoch(0)
    dataset.seed = 1
    assert not torch.equal(batch(dataset), first)


def test_transforms_in_a_pipeline_draw_independently():
    # Compose.set_random_seed would give both flips the same draw: always both or neither.
    dataset = build_dataset(DataSpec(name="digits", limit=64))
    spec = AugmentSpec(transforms=[{"name": "HorizontalFlip", "params": {"p": 0.5}},
                                   {"name": "VerticalFlip", "params": {"p": 0.5}}])
    dataset.set_transform(build_pipeline(spec))
    plain = torch.stack([to_tensor(dataset.image(i)) for i in range(64)])
    out = batch(dataset)
    h_only = [torch.equal(out[i], plain[i].flip(-1)) and not torch.equal(out[i], plain[i].flip(-2, -1))
              for i in range(64)]
    assert 5 < sum(h_only) < 30


def test_dataloader_workers_see_the_same_augmentation():
    dataset = augmented_digits()
    dataset.set_epoch(3)
    single = next(iter(DataLoader(dataset, batch_size=32, num_workers=0)))[0]
    worker = next(iter(DataLoader(dataset, batch_size=32, num_workers=1)))[0]
    assert torch.equal(single, worker)


def test_configured_keeps_transform_and_seed():
    dataset = augmented_digits(seed=7)
    assert dataset.configured(limit=4).transform is dataset.transform
    assert dataset.configured(limit=4).seed == 7


def test_reseedable_random_restarts_streams_exactly():
    from ganforge.data.base import ReseedableRandom

    rngs = ReseedableRandom()
    numpy_rng, python_rng = rngs.reseed(12345)
    first = (numpy_rng.integers(0, 2**31, 3, dtype=np.uint32).tolist(), python_rng.random())
    numpy_rng.integers(0, 2**31, 1, dtype=np.uint32)  # leaves a cached 32-bit half behind
    numpy_rng, python_rng = rngs.reseed(12345)
    assert (numpy_rng.integers(0, 2**31, 3, dtype=np.uint32).tolist(), python_rng.random()) == first
    numpy_rng, python_rng = rngs.reseed(12346)
    assert numpy_rng.integers(0, 2**31, 3, dtype=np.uint32).tolist() != first[0]
