import gzip
import shutil

import numpy as np
import pytest
import torch

from explorer.data import (
    CLASS_NAMES,
    SHA256,
    DatasetError,
    load_fashion_mnist,
    parse_idx,
    salt_and_pepper,
    train_val_split,
)


def _idx_bytes(arr: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return header + arr.tobytes()


def test_real_dataset_shapes_and_labels(fmnist):
    assert fmnist.train.images.shape == (60000, 28, 28) and fmnist.train.images.dtype == np.uint8
    assert fmnist.test.images.shape == (10000, 28, 28)
    assert np.array_equal(np.bincount(fmnist.train.labels), np.full(10, 6000))
    assert np.array_equal(np.bincount(fmnist.test.labels), np.full(10, 1000))
    assert len(CLASS_NAMES) == 10 and CLASS_NAMES[9] == "Ankle boot"
    x = fmnist.test.tensor(slice(0, 5))
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1


def test_parse_idx_reads_header_not_assumptions():
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(parse_idx(_idx_bytes(arr)), arr)
    ints = np.array([1, -2, 70000], dtype=">i4")
    assert parse_idx(_idx_bytes(ints, 0x0C)).tolist() == [1, -2, 70000]


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "bad magic"),
        (b"\x00\x00\x42\x01\x00\x00\x00\x01\x05", "unknown IDX data type"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
        (_idx_bytes(np.zeros((4, 4), np.uint8))[:-3], "truncated or damaged"),
        (_idx_bytes(np.zeros((4, 4), np.uint8)) + b"\x00", "truncated or damaged"),
    ],
)
def test_parse_idx_rejects_bad_files(raw, match):
    with pytest.raises(DatasetError, match=match):
        parse_idx(raw, "x")


@pytest.fixture
def copied_dataset(tmp_path, fmnist):
    for f in fmnist.source.iterdir():
        if f.name.split(".")[0] in SHA256:
            shutil.copy(f, tmp_path / f.name)
    return tmp_path


def test_loads_from_explicit_dir_and_env_var(copied_dataset, monkeypatch):
    assert load_fashion_mnist(copied_dataset).source == copied_dataset
    monkeypatch.setenv("FASHION_MNIST_DIR", str(copied_dataset))
    assert load_fashion_mnist().source == copied_dataset


def test_uncompressed_files_are_accepted(copied_dataset):
    for gz in copied_dataset.glob("*.gz"):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    assert len(load_fashion_mnist(copied_dataset).test) == 10000


def test_truncated_file_names_file_and_fix(copied_dataset):
    f = copied_dataset / "t10k-labels-idx1-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte.*apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(copied_dataset)


def test_altered_file_fails_its_hash(copied_dataset):
    f = copied_dataset / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(f.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # a plausible label, but not the real one
    f.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte.*SHA-256.*altered"):
        load_fashion_mnist(copied_dataset)


def test_missing_dataset_says_how_to_install(tmp_path):
    with pytest.raises(DatasetError, match=r"not found.*apt-get install dataset-fashion-mnist.*FASHION_MNIST_DIR"):
        load_fashion_mnist(tmp_path / "nowhere")


def test_train_val_split_is_seeded_and_disjoint():
    tr, va = train_val_split(1200, 0.25, seed=3)
    assert len(va) == 300 and len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 1200
    assert np.array_equal(va, train_val_split(1200, 0.25, seed=3)[1])
    assert not np.array_equal(va, train_val_split(1200, 0.25, seed=4)[1])
    with pytest.raises(ValueError, match="val_fraction == 1.5"):
        train_val_split(10, 1.5, 0)


def test_salt_and_pepper_statistics_and_seeding(small_batch):
    grey = torch.full((100, 1, 28, 28), 0.5)  # every hit is visible on a mid-grey image
    noisy = salt_and_pepper(grey, 0.2, torch.Generator().manual_seed(0))
    hit = noisy != 0.5
    assert abs(float(hit.float().mean()) - 0.2) < 0.005
    assert set(noisy[hit].unique().tolist()) == {0.0, 1.0}
    assert abs(float(noisy[hit].mean()) - 0.5) < 0.01  # salt and pepper equally likely
    x, _ = small_batch
    a = salt_and_pepper(x, 0.2, torch.Generator().manual_seed(0))
    assert torch.equal(a, salt_and_pepper(x, 0.2, torch.Generator().manual_seed(0)))
    assert not torch.equal(a, salt_and_pepper(x, 0.2, torch.Generator().manual_seed(1)))
    n1 = salt_and_pepper(x.numpy(), 0.2, np.random.default_rng(1))
    assert np.array_equal(n1, salt_and_pepper(x.numpy(), 0.2, np.random.default_rng(1))) and n1.dtype == np.float32
    assert abs(float((salt_and_pepper(np.full(10000, 0.5), 0.3, np.random.default_rng(0)) != 0.5).mean()) - 0.3) < 0.02
    assert torch.equal(salt_and_pepper(x, 0.0), x)
    with pytest.raises(ValueError, match="amount == 1.5"):
        salt_and_pepper(x, 1.5)
