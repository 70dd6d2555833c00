"""check_data: bad data input is refused cheaply, before Ray starts, in one or two clear lines.

For every registered file-backed data set, each bad case is built in tmp_path and must fail the
check with a DataError naming the path and the fix; the loader (build_dataset) must fail with the
very same message. Good cases pass without the loader's expensive half ever running.
"""
import gzip
import pickle
import struct
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from ganforge.config import DataSpec
from ganforge.data import DATASETS, DataError, build_dataset, check_data
from ganforge.data.errors import DataWarning

pytestmark = pytest.mark.unit

BUNDLED = ("digits", "lfw-faces", "shapes")
IDX_FIX = ("--set data.root=", "GANFORGE_DATA_DIR", "data.download=true")


@pytest.fixture(autouse=True)
def no_data_env(monkeypatch, tmp_path):
    """No user configuration leaks in: env vars unset, data home in tmp."""
    monkeypatch.delenv("GANFORGE_FASHION_MNIST_DIR", raising=False)
    monkeypatch.delenv("GANFORGE_OPENCV_DIGITS_DIR", raising=False)
    monkeypatch.setenv("GANFORGE_DATA_DIR", str(tmp_path / "home"))


@pytest.fixture
def no_reading(monkeypatch):
    """Every registered data set's expensive half (``read``) raises if it is called."""

    def read(self, found, spec):
        raise AssertionError(f"check_data loaded {spec.name} in full")

    for _, entry in DATASETS.items():
        monkeypatch.setattr(type(entry), "read", read)


# --- good files --------------------------------------------------------------------------------

def write_idx(path, array, compress=False):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def idx_set(root, compress=False, n_labels=12):
    root.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if compress else ""
    write_idx(root / f"train-images-idx3-ubyte{ext}", np.zeros((12, 28, 28)), compress)
    write_idx(root / f"train-labels-idx1-ubyte{ext}", np.arange(n_labels) % 10, compress)
    return root


def write_batch(path, content):
    path.write_bytes(pickle.dumps(content, protocol=2))


def cifar_set(root, name):
    """A tiny CIFAR-10 or CIFAR-100 train split in root; returns (folder, batch file, meta file)."""
    data = np.zeros((4, 3 * 32 * 32), np.uint8)
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        for i in range(1, 6):
            write_batch(folder / f"data_batch_{i}", {b"data": data, b"labels": [0, 1, 2, 3]})
        write_batch(folder / "batches.meta", {b"label_names": [b"c%d" % i for i in range(10)]})
        return folder, folder / "data_batch_3", folder / "batches.meta"
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    write_batch(folder / "train", {b"data": data, b"fine_labels": [0, 1, 2, 3], b"coarse_labels": [0] * 4})
    write_batch(folder / "meta", {b"fine_label_names": [b"f"] * 100, b"coarse_label_names": [b"c"] * 20})
    return folder, folder / "train", folder / "meta"


def image_folder(root, n=3, broken=0):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((6, 6, 3), i, np.uint8)).save(root / f"img{i:03d}.png")
    for i in range(broken):
        (root / f"broken{i:03d}.png").write_bytes(b"\x89PNG but not really")
    return root


def npz_file(path, **arrays):
    arrays = arrays or {"images": np.zeros((4, 8, 8), np.uint8), "labels": np.arange(4)}
    np.savez(path, **arrays)
    return path


def overwrite(path, data: bytes):
    path.write_bytes(data)
    return path


def gzipped_cut(path, keep):
    """A whole gzip file of ``path``'s content cut short (the trailer records the shorter size)."""
    return overwrite(path, gzip.compress(gzip.decompress(path.read_bytes())[:keep]))


def cut(path, keep):
    """Keep the first ``keep`` bytes of ``path`` (negative: drop that many from the end)."""
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    return path


# --- bad cases: (tmp) -> (spec fields, path the message must name, fixes it must name) ----------

def _missing(tmp):
    return {"root": str(tmp / "nope")}, tmp / "nope"


def _empty_dir(tmp):
    (tmp / "empty").mkdir()
    return {"root": str(tmp / "empty")}, tmp / "empty"


IDX_CASES = {
    "missing dir": lambda t: (*_missing(t), IDX_FIX),
    "empty dir": lambda t: (*_empty_dir(t), IDX_FIX),
    "empty file": lambda t: ({"root": str(idx_set(t / "d"))}, cut(t / "d/train-images-idx3-ubyte", 0),
                             ("is empty", "data.download=true")),
    "truncated file": lambda t: ({"root": str(idx_set(t / "d"))}, cut(t / "d/train-images-idx3-ubyte", -100),
                                 ("truncated", "data.download=true")),
    "truncated gzip": lambda t: ({"root": str(idx_set(t / "d", compress=True))},
                                 cut(t / "d/train-images-idx3-ubyte.gz", -20), ("truncated", "data.download=true")),
    "truncated before gzipping": lambda t: ({"root": str(idx_set(t / "d", compress=True))},
                                            gzipped_cut(t / "d/train-images-idx3-ubyte.gz", -100),
                                            ("truncated", "when decompressed", "data.download=true")),
    "wrong magic": lambda t: ({"root": str(idx_set(t / "d"))}, overwrite(t / "d/train-labels-idx1-ubyte", b"GIF89a" * 4),
                              ("not an IDX file", "data.download=true")),
    "not gzip": lambda t: ({"root": str(idx_set(t / "d", compress=True))},
                           overwrite(t / "d/train-labels-idx1-ubyte.gz", b"plain text"),
                           ("not a gzip file", "data.download=true")),
    "labels do not match": lambda t: ({"root": str(idx_set(t / "d", n_labels=11))}, t / "d/train-labels-idx1-ubyte",
                                      ("shape (12, 28, 28)", "data.download=true")),
}


def _cifar_damaged(name, damage, words):
    def case(tmp):
        _, batch, meta = cifar_set(tmp / "c", name)
        path = damage(batch, meta)
        return {"root": str(tmp / "c")}, path, (*words, "data.download=true")
    return case


def _cifar_cases(name):
    return {
        "missing dir": lambda t: (*_missing(t), IDX_FIX),
        "empty dir": lambda t: (*_empty_dir(t), IDX_FIX),
        "empty file": _cifar_damaged(name, lambda b, m: cut(b, 0), ("is empty",)),
        "truncated file": _cifar_damaged(name, lambda b, m: cut(b, -500), ("truncated",)),
        "wrong magic": _cifar_damaged(name, lambda b, m: overwrite(b, b"<html>404</html>"),
                                      ("not a CIFAR pickle batch",)),
        "meta without names": _cifar_damaged(name, lambda b, m: write_batch(m, {b"other": 1}) or m,
                                             ("has no", "label_names")),
    }


def _npz_bad(tmp, **arrays):
    return {"root": str(npz_file(tmp / "x.npz", **arrays))}, tmp / "x.npz", ("numpy.savez",)


NPZ_CASES = {
    "missing file": lambda t: ({"root": str(t / "no.npz")}, t / "no.npz", ("does not exist", "data.root")),
    "directory": lambda t: (*_empty_dir(t), ("not a file", "data.root")),
    "empty file": lambda t: ({"root": str(cut(npz_file(t / "x.npz"), 0))}, t / "x.npz", ("numpy.savez",)),
    "truncated file": lambda t: ({"root": str(cut(npz_file(t / "x.npz"), -30))}, t / "x.npz", ("numpy.savez",)),
    "no images": lambda t: _npz_bad(t, pictures=np.zeros((2, 4, 4), np.uint8)),
    "float images": lambda t: _npz_bad(t, images=np.zeros((2, 4, 4), np.float32)),
    "five channels": lambda t: _npz_bad(t, images=np.zeros((2, 4, 4, 5), np.uint8)),
    "labels do not match": lambda t: _npz_bad(t, images=np.zeros((3, 4, 4), np.uint8), labels=np.arange(2)),
}

FOLDER_CASES = {
    "missing dir": lambda t: (*_missing(t), ("does not exist", "data.root")),
    "a file": lambda t: ({"root": str(overwrite(t / "f.png", b""))}, t / "f.png", ("not a directory", "data.root")),
    "empty dir": lambda t: (*_empty_dir(t), ("no images", ".png", "data.root")),
    "only other files": lambda t: ({"root": str(overwrite(t / "notes.txt", b"x").parent)}, t,
                                   ("no images", "data.root")),
    "no readable image": lambda t: ({"root": str(image_folder(t / "i", n=0, broken=40))}, t / "i/broken000.png",
                                    ("unreadable", "data.max_bad_fraction")),
    "corrupt above the fraction": lambda t: ({"root": str(image_folder(t / "i", n=3, broken=1))},
                                             t / "i/broken000.png", ("of 4 image files", "data.max_bad_fraction")),
}

def digit_sheet(tmp, size=(2000, 1000)):
    """A blank digits.png of OpenCV's size (or ``size``) in ``tmp``; returns the folder."""
    tmp.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros(size[::-1], np.uint8)).save(tmp / "digits.png")
    return tmp


OPENCV_DIGITS_FIX = ("digits.png", "--set data.root=", "GANFORGE_OPENCV_DIGITS_DIR", "apt-get install opencv-doc")
OPENCV_DIGITS_CASES = {
    "missing dir": lambda t: (*_missing(t), OPENCV_DIGITS_FIX),
    "empty dir": lambda t: (*_empty_dir(t), OPENCV_DIGITS_FIX),
    "wrong size": lambda t: ({"root": str(digit_sheet(t / "s", (200, 100)))}, t / "s/digits.png",
                             ("is 200x100", "2000x1000 digit sheet")),
    "not a png": lambda t: ({"root": str(overwrite(digit_sheet(t / "s") / "digits.png", b"<html>").parent)},
                            t / "s/digits.png", ("not a readable PNG",)),
}

CASES = {
    "opencv-digits": OPENCV_DIGITS_CASES,
    "mnist": IDX_CASES,
    "fashion-mnist": IDX_CASES,
    "cifar10": _cifar_cases("cifar10"),
    "cifar100": _cifar_cases("cifar100"),
    "npz": NPZ_CASES,
    "folder": FOLDER_CASES,
}

GOOD = {
    "opencv-digits": lambda t: {"root": str(digit_sheet(t / "s"))},
    "mnist": lambda t: {"root": str(idx_set(t / "d", compress=True))},
    "fashion-mnist": lambda t: {"root": str(idx_set(t / "d"))},
    "cifar10": lambda t: {"root": str(cifar_set(t / "c", "cifar10")[0])},
    "cifar100": lambda t: {"root": str(cifar_set(t, "cifar100")[0].parent)},
    "npz": lambda t: {"root": str(npz_file(t / "x.npz"))},
    "folder": lambda t: {"root": str(image_folder(t / "i", n=40))},
}


def test_every_registered_data_set_has_cases():
    # A new data set fails here until it is bundled or its bad cases are written above (those of
    # the paired task's sets are in test_data_paired.py).
    generate = {name for name, entry in DATASETS.items() if getattr(entry, "task", "generate") == "generate"}
    assert generate == set(BUNDLED) | set(CASES) == set(BUNDLED) | set(GOOD)


def message_of(call) -> str:
    with pytest.raises(DataError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize("name, case", [(n, c) for n, cases in CASES.items() for c in cases])
def test_bad_input_fails_the_check_naming_path_and_fix(tmp_path, name, case):
    fields, path, fixes = CASES[name][case](tmp_path)
    spec = DataSpec(name=name, **fields)
    message = message_of(lambda: check_data(spec))
    for part in (str(path), *fixes):
        assert part in message, (part, message)
    assert len(message.splitlines()) <= 2 and "Traceback" not in message
    assert message_of(lambda: build_dataset(spec)) == message  # the loader says the same


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_files_pass_without_loading(tmp_path, name, no_reading, monkeypatch):
    import ganforge.data.idx

    monkeypatch.setattr(ganforge.data.idx, "read_idx", lambda path: pytest.fail("read a whole IDX file"))
    check_data(DataSpec(name=name, **GOOD[name](tmp_path)))


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_files_load(tmp_path, name):
    assert len(build_dataset(DataSpec(name=name, **GOOD[name](tmp_path)))) > 0


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_sets_pass_without_loading(name, no_reading):
    start = time.perf_counter()
    check_data(DataSpec(name=name))
    print(f"check_data({name}): {1000 * (time.perf_counter() - start):.2f} ms")  # shown with -s; not asserted


def test_download_is_left_to_the_loader(tmp_path, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", lambda *a, **k: pytest.fail("the check downloaded"))
    check_data(DataSpec(name="mnist", root=str(tmp_path / "later"), download=True))


def test_fashion_mnist_missing_names_the_setup_script(tmp_path):
    message = message_of(lambda: check_data(DataSpec(name="fashion-mnist", root=str(tmp_path))))
    assert "scripts/setup_data.sh" in message


def test_folder_without_root_names_the_key():
    assert "data.root" in message_of(lambda: check_data(DataSpec(name="folder")))


def test_unknown_name_is_a_data_error():
    spec = DataSpec.model_construct(**{**DataSpec().model_dump(), "name": "digitz"})
    assert "digits" in message_of(lambda: check_data(spec))


@pytest.mark.parametrize("good, broken, max_fraction, limit", [
    (3, 1, 0.01, None),     # decided within the sample: exactly the loader's verdict
    (3, 1, 0.5, None),      # tolerated: both pass
    (40, 1, 0.01, None),    # 1 of 41 > 1 %: certain as soon as the broken file is seen
    (200, 1, 0.01, None),   # 1 of 201 < 1 %: the loader only warns, so the check must pass
    (200, 1, 0.01, 5),      # limit 5: the loader verifies 6 files, 1 bad: it fails
    (200, 1, 0.5, 5),
    (0, 40, 0.9, None),     # nothing readable
    (0, 40, 1.0, None),     # everything tolerated (the loader then finds no images at all)
])
def test_check_fails_exactly_when_the_full_scan_does(tmp_path, good, broken, max_fraction, limit):
    # The broken files sort first (b < i), so the check meets them in its sample.
    spec = DataSpec(name="folder", root=str(image_folder(tmp_path, good, broken)),
                    max_bad_fraction=max_fraction, limit=limit)
    entry = DATASETS.get("folder")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        full_scan = raises(lambda: entry.read(entry.locate(spec, fetch=True), spec))  # the loader, unchecked
    assert raises(lambda: check_data(spec)) == full_scan


def raises(call) -> bool:
    try:
        call()
    except DataError:
        return True
    return False
