"""Datasets of your own: every source, on real images, and every kind of bad input with its message."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from PIL import Image

from explorer.data import DatasetError
from explorer.datasets import DATA, INFO, add_dataset, list_datasets, load_dataset, read_source


def _write_idx(path, array: np.ndarray) -> None:
    """An MNIST-format IDX file (uint8), gzipped."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    """scikit-learn's real UCI handwritten digits (1,797 8×8 images, values 0..16) as an .npz."""
    from sklearn.datasets import load_digits

    d = load_digits()
    path = tmp_path_factory.mktemp("src") / "digits.npz"
    x = (d.images * (255 / 16)).round().astype(np.uint8)
    np.savez(path, x=x, y=d.target, class_names=np.array([str(c) for c in range(10)]))
    return path


@pytest.fixture(scope="module")
def fashion_pngs(tmp_path_factory, fmnist):
    """60 real Fashion-MNIST test images as PNG files, one subfolder per class (6 classes)."""
    root = tmp_path_factory.mktemp("pngs")
    for i in range(60):
        label = int(fmnist.test.labels[i])
        if label < 6:
            (root / f"class-{label}").mkdir(exist_ok=True)
            Image.fromarray(fmnist.test.images[i]).save(root / f"class-{label}" / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def photo_crops(tmp_path_factory):
    """Colour crops of the two photos scikit-learn ships (china, flower), 32×32 JPEG/WebP, plus one odd size."""
    from sklearn.datasets import load_sample_images

    root = tmp_path_factory.mktemp("photos")
    for name, photo in zip(("china", "flower"), load_sample_images().images, strict=True):
        (root / name).mkdir()
        for k in range(6):
            crop = photo[40 * k : 40 * k + 32, 60 * k : 60 * k + 32]
            Image.fromarray(crop).save(root / name / f"{k}.{'jpg' if k % 2 else 'webp'}")
    Image.fromarray(load_sample_images().images[0][:48, :40]).save(root / "china" / "odd.png")
    (root / "flower" / "notes.txt").write_text("not an image")
    (root / "flower" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return root


def test_npz_digits_registered_with_a_carved_split(tmp_path, digits_npz):
    d = add_dataset("digits", digits_npz, tmp_path)
    assert d.shape == (1, 8, 8) and len(d) == 1797 and d.has_labels and d.class_names[3] == "3"
    assert d.info["split"] == {"carved": True, "fraction": 0.2, "seed": 0} and d.n_test == 359
    again = load_dataset("digits", tmp_path)
    assert again.sha256 == d.sha256 and np.array_equal(again.images, d.images)
    assert np.array_equal(again.labels, d.labels) and again.n_test == d.n_test
    assert [r["name"] for r in list_datasets(tmp_path)] == ["digits"]
    # the same source, registered twice under other names, gives the same split and the same hash
    assert add_dataset("digits-2", digits_npz, tmp_path).sha256 == d.sha256


def test_idx_folder_keeps_its_own_split(tmp_path, fmnist):
    src = tmp_path / "idx"
    src.mkdir()
    _write_idx(src / "train-images-idx3-ubyte.gz", fmnist.train.images[:300])
    _write_idx(src / "train-labels-idx1-ubyte.gz", fmnist.train.labels[:300])
    _write_idx(src / "t10k-images-idx3-ubyte.gz", fmnist.test.images[:100])
    _write_idx(src / "t10k-labels-idx1-ubyte.gz", fmnist.test.labels[:100])
    d = add_dataset("fmnist-slice", src, tmp_path / "reg")
    assert d.n_test == 100 and len(d) == 400 and d.info["split"] == {"carved": False}
    assert np.array_equal(d.images[:100, 0], fmnist.test.images[:100])  # test items first, as item ids say
    assert np.array_equal(d.images[100:, 0], fmnist.train.images[:300])


def test_grey_image_folder(tmp_path, fashion_pngs, fmnist):
    d = add_dataset("fashion-png", fashion_pngs, tmp_path)
    assert d.shape == (1, 28, 28) and d.class_names == tuple(f"class-{c}" for c in range(6))
    assert sorted(set(d.labels.tolist())) == list(range(6))
    # every stored image is one of the real test images, bit for bit
    originals = {fmnist.test.images[i].tobytes() for i in range(60)}
    assert all(img[0].tobytes() in originals for img in d.images)


def test_rgb_image_folder_resizes_and_skips_with_notices(tmp_path, photo_crops):
    d = add_dataset("photos", photo_crops, tmp_path)
    assert d.shape == (3, 32, 32) and len(d) == 13 and d.class_names == ("china", "flower")
    notices = " | ".join(d.info["notices"])
    assert "skipped 2 file(s)" in notices and "1 image(s) resized to 32×32 px" in notices


def test_flat_folder_has_no_labels(tmp_path, fmnist):
    src = tmp_path / "flat"
    src.mkdir()
    for i in range(10):
        Image.fromarray(fmnist.test.images[i]).save(src / f"{i}.png")
    d = add_dataset("flat", src, tmp_path / "reg")
    assert not d.has_labels and d.class_names is None and d.n_test == 2


def _assert_nothing_left(root):
    assert not root.exists() or [p.name for p in root.iterdir()] == []


def _npz(tmp, **arrays):
    np.savez(tmp / "src.npz", **arrays)
    return tmp / "src.npz"


def _folder(tmp, *files: str, text: str = "x"):
    """A folder with the given (relative) files, or empty subfolders for names ending in '/'."""
    root = tmp / "src"
    root.mkdir()
    for f in files:
        (root / f).mkdir(parents=True) if f.endswith("/") else (root / f).write_text(text)
    return root


ZEROS = np.zeros((4, 8, 8), np.uint8)
BAD_SOURCES = {  # case -> (make the source in a tmp folder, the message's gist)
    "missing": (lambda t: t / "missing", "does not exist"),
    "empty-folder": (lambda t: _folder(t), "no files found"),
    "single-class": (lambda t: _folder(t, "shoes/"), "one class folder"),
    "non-images": (lambda t: _folder(t, "a.txt"), "none of its 1 files"),
    "npz-without-x": (lambda t: _npz(t, images=ZEROS), "no array named 'x'"),
    "labels-wrong-length": (lambda t: _npz(t, x=ZEROS, y=[0, 1, 0]), "3 labels for 4 images"),
    "single-label": (lambda t: _npz(t, x=ZEROS, y=[1, 1, 1, 1]), "at least two classes"),
    "too-small": (lambda t: _npz(t, x=np.zeros((4, 4, 4), np.uint8)), "must be >= 8"),
    "floats-out-of-range": (lambda t: _npz(t, x=np.full((4, 8, 8), 2.0)), r"in \[0, 1\]"),
    "other-file": (lambda t: _folder(t, "x.csv") / "x.csv", "must be an .npz"),
    "corrupt-npz": (lambda t: _folder(t, "bad.npz", text="PK junk") / "bad.npz", "not a readable .npz"),
}


@pytest.mark.parametrize("case", BAD_SOURCES)
def test_bad_sources_say_what_to_do_and_leave_nothing(tmp_path, case):
    make, message = BAD_SOURCES[case]
    source = make(tmp_path)
    with pytest.raises(DatasetError, match=message):
        add_dataset("bad", source, tmp_path / "reg")
    _assert_nothing_left(tmp_path / "reg")


def test_name_taken_and_bad_names(tmp_path, digits_npz):
    add_dataset("digits", digits_npz, tmp_path)
    with pytest.raises(DatasetError, match="exists already .* --overwrite"):
        add_dataset("digits", digits_npz, tmp_path)
    add_dataset("digits", digits_npz, tmp_path, overwrite=True)
    for bad in ("Digits", "../x", "", "a b"):
        with pytest.raises(DatasetError, match="is not allowed"):
            add_dataset(bad, digits_npz, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits"]


def test_damaged_or_altered_registration_is_named(tmp_path, digits_npz):
    add_dataset("digits", digits_npz, tmp_path)
    with pytest.raises(DatasetError, match="no dataset named 'nope'.*dataset add nope"):
        load_dataset("nope", tmp_path)
    info = json.loads((tmp_path / "digits" / INFO).read_text())
    info["sha256"] = "0" * 64
    (tmp_path / "digits" / INFO).write_text(json.dumps(info))
    with pytest.raises(DatasetError, match="does not match its recorded hash"):
        load_dataset("digits", tmp_path)
    (tmp_path / "digits" / DATA).write_bytes(b"junk")
    with pytest.raises(DatasetError, match="is damaged"):
        load_dataset("digits", tmp_path)


def test_read_source_never_unpickles(tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([object()], dtype=object))
    with pytest.raises(DatasetError, match="without pickled objects"):
        read_source(tmp_path / "obj.npz").images  # noqa: B018


def test_dataset_commands_add_and_list(tmp_path, digits_npz, capsys):
    from explorer.cli import main

    root = str(tmp_path / "reg")
    assert main(["dataset", "list", "--datasets", root]) == 0
    assert "No datasets registered" in capsys.readouterr().out
    assert main(["dataset", "add", "digits", str(digits_npz), "--datasets", root]) == 0
    assert "digits: 1,797 images of 1×8×8, 10 classes, 359 for test" in capsys.readouterr().out
    assert main(["dataset", "add", "digits", str(digits_npz), "--datasets", root]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["dataset", "list", "--datasets", root]) == 0
    assert "digits: 1,797 images of 1×8×8, 10 classes, 359 test (npz)" in capsys.readouterr().out
    assert main(["dataset", "add", "--datasets", root]) == 2
    assert "needs a NAME and a PATH" in capsys.readouterr().err
