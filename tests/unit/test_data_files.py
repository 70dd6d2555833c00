"""File-format data sets: IDX (MNIST, Fashion-MNIST) and CIFAR pickles, from tiny fake files."""
import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from ganforge.config import DataSpec
from ganforge.data import DataError, build_dataset
from ganforge.data.cifar import read_batch
from ganforge.data.idx import read_idx
from ganforge.data.sources import DataFilesMissing

pytestmark = pytest.mark.unit

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def no_data_env(monkeypatch, tmp_path):
    """No user configuration leaks in: env vars unset, data home in tmp."""
    monkeypatch.delenv("GANFORGE_FASHION_MNIST_DIR", raising=False)
    monkeypatch.setenv("GANFORGE_DATA_DIR", str(tmp_path / "home"))


def write_idx(path, array, compress=False):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


def fake_idx_set(folder, prefix="train", n=12, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (n, 28, 28)), np.arange(n) % 10
    ext = ".gz" if compress else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images, compress)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels, compress)
    return images, labels


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_roundtrip(tmp_path, compress):
    images, _ = fake_idx_set(tmp_path, compress=compress)
    path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if compress else ""))
    assert np.array_equal(read_idx(path), images)


def test_truncated_idx_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(struct.pack(">BBBBi", 0, 0, 8, 1, 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="x-idx1-ubyte"):
        read_idx(path)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_sets_from_fake_files(tmp_path, name):
    images, labels = fake_idx_set(tmp_path / "d")
    fake_idx_set(tmp_path / "d", prefix="t10k", n=5)
    dataset = build_dataset(DataSpec(name=name, root=str(tmp_path / "d"), resolution=28))
    assert len(dataset) == 12 and dataset.img_shape == (1, 28, 28) and dataset.num_classes == 10
    assert np.array_equal(dataset.images[..., 0], images) and np.array_equal(dataset.labels, labels)
    test = build_dataset(DataSpec(name=name, root=str(tmp_path / "d"), split="test", channels=3))
    assert len(test) == 5 and test.img_shape == (3, 32, 32)
    x, _ = test[0]
    assert -1 <= x.min() and x.max() <= 1


def test_idx_in_torchvision_layout_and_env_var(tmp_path, monkeypatch):
    fake_idx_set(tmp_path / "fm" / "FashionMNIST" / "raw")
    monkeypatch.setenv("GANFORGE_FASHION_MNIST_DIR", str(tmp_path / "fm"))
    assert len(build_dataset(DataSpec(name="fashion-mnist"))) == 12
    fake_idx_set(tmp_path / "home" / "mnist", n=7)  # $GANFORGE_DATA_DIR/mnist
    assert len(build_dataset(DataSpec(name="mnist"))) == 7


def test_fashion_mnist_from_debian_package():
    assert (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").exists(), \
        "Debian's dataset-fashion-mnist is not installed: run bash scripts/setup.sh"
    train = build_dataset(DataSpec(name="fashion-mnist", limit=64))
    assert len(train) == 64 and train.img_shape == (1, 32, 32) and train.num_classes == 10
    assert train.class_names[9] == "Ankle boot"
    test = read_idx(DEBIAN_FASHION / "t10k-labels-idx1-ubyte.gz")
    assert test.shape == (10000,) and set(test.tolist()) == set(range(10))


@pytest.mark.parametrize("name, expected", [
    ("mnist", "train-images-idx3-ubyte"),
    ("cifar10", "data_batch_1"),
    ("cifar100", "cifar-100-python"),
])
def test_missing_files_error_names_files_dirs_and_flags(tmp_path, name, expected):
    with pytest.raises(DataFilesMissing) as info:
        build_dataset(DataSpec(name=name, root=str(tmp_path / "empty")))
    message = str(info.value)
    for part in (expected, str(tmp_path / "empty"), "--set data.root=", "GANFORGE_DATA_DIR", "data.download"):
        assert part in message, (part, message)


def test_download_failure_gives_the_same_clear_error(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(DataFilesMissing, match=r"(?s)failed.*unreachable.*train-images-idx3-ubyte|"
                                               r"train-images-idx3-ubyte.*failed.*unreachable"):
        build_dataset(DataSpec(name="mnist", root=str(tmp_path / "dl"), download=True))


def write_batch(path, images, labels, label_key=b"labels"):
    content = {b"batch_label": b"fake", b"data": images.reshape(len(images), -1), label_key: list(labels)}
    path.write_bytes(pickle.dumps(content, protocol=2))


def fake_cifar10(root, per_batch=4):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_batch(folder / name, rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8), range(per_batch))
    names = [n.encode() for n in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    return folder


def test_cifar10_from_fake_pickles(tmp_path):
    folder = fake_cifar10(tmp_path)
    dataset = build_dataset(DataSpec(name="cifar10", root=str(tmp_path)))
    assert len(dataset) == 20 and dataset.img_shape == (3, 32, 32) and dataset.num_classes == 10
    assert dataset.class_names[0] == "airplane"
    first = read_batch(folder / "data_batch_1")["data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    assert np.array_equal(dataset.images[0], first)  # channel-planar rows become HWC
    assert len(build_dataset(DataSpec(name="cifar10", root=str(folder), split="test"))) == 4


def test_cifar100_fine_and_coarse(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    images = np.zeros((3, 3, 32, 32), np.uint8)
    content = {b"data": images.reshape(3, -1), b"fine_labels": [5, 99, 0], b"coarse_labels": [1, 19, 0]}
    (folder / "train").write_bytes(pickle.dumps(content, protocol=2))
    meta = {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"c{i}".encode() for i in range(20)]}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    fine = build_dataset(DataSpec(name="cifar100", root=str(tmp_path)))
    assert fine.num_classes == 100 and fine.labels.tolist() == [5, 99, 0]
    coarse = build_dataset(DataSpec(name="cifar100", root=str(tmp_path), options={"labels": "coarse"}))
    assert coarse.num_classes == 20 and coarse.labels.tolist() == [1, 19, 0]


def test_cifar_batch_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (eval, ("'pwned'",))  # not print: Ray's tqdm_ray replaces builtins.print once imported

    path = tmp_path / "evil"
    path.write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataError, match="refusing to load builtins.eval"):
        read_batch(path)


def test_cifar_batch_written_by_numpy_1_loads(tmp_path):
    # The original CIFAR files name numpy.core.multiarray (numpy 1), which numpy 2 renamed.
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    data = pickle.dumps({b"data": array}, protocol=2).replace(b"cnumpy._core.", b"cnumpy.core.")
    assert b"numpy.core.multiarray" in data
    (tmp_path / "b").write_bytes(data)
    assert np.array_equal(read_batch(tmp_path / "b")["data"], array)


def test_npz_images_labels_and_errors(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 10, 10, 3), dtype=np.uint8)
    np.savez(tmp_path / "set.npz", images=images, labels=np.array([0, 1, 2, 1, 0]), class_names=np.array(["a", "b", "c"]))
    dataset = build_dataset(DataSpec(name="npz", root=str(tmp_path / "set.npz"), resolution=8, limit=4))
    assert len(dataset) == 4 and dataset.img_shape == (3, 8, 8) and dataset.class_names == ["a", "b", "c"]
    np.savez(tmp_path / "plain.npz", images=images[..., 0])
    assert build_dataset(DataSpec(name="npz", root=str(tmp_path / "plain.npz"))).num_classes == 0
    np.savez(tmp_path / "bad.npz", pictures=images)
    with pytest.raises(ValueError, match="pictures"):
        build_dataset(DataSpec(name="npz", root=str(tmp_path / "bad.npz")))
    with pytest.raises(DataError, match="data.root"):
        build_dataset(DataSpec(name="npz", root=str(tmp_path / "missing.npz")))
