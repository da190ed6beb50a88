"""The data-quality lists (explorer.quality), their storage (explorer.commands.quality) and the Data quality page, on
real Fashion-MNIST slices encoded by the shipped dense model, and the lists the repository ships."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pandas as pd
import pytest

from explorer import exports
from explorer import quality as q
from explorer.checkpoint import CONFIG, WEIGHTS, default_root, load_model
from explorer.commands import quality as cq
from explorer.data import CLASS_NAMES, N_TEST
from explorer.inference import encode_with_error
from tests.test_dashboard import assert_clean, open_page

N = 2000  # test images in the slice


@pytest.fixture(scope="module")
def dense():
    return load_model("dense")


@pytest.fixture(scope="module")
def slice_(fmnist, dense):
    """The first 2,000 test images, their labels, and their dense codes and reconstruction errors."""
    images, labels = fmnist.test.images[:N], fmnist.test.labels[:N]
    codes, errors = encode_with_error(dense, images)
    return images, labels, codes, errors


# ----------------------------------------------------------------------------------------- mislabels


def test_flipped_labels_rank_high(slice_):
    _, labels, codes, _ = slice_
    noisy, flipped = q.flip_labels(labels, 0.01, seed=0)
    assert len(flipped) == 20 and (noisy[flipped] != labels[flipped]).all()
    assert (noisy[np.setdiff1d(np.arange(N), flipped)] == labels[np.setdiff1d(np.arange(N), flipped)]).all()
    ranked = q.likely_mislabels(codes, noisy)
    assert len(ranked) == N and sorted(ranked.ids) == list(range(N))
    assert (np.diff(ranked.confidence) <= 1e-6).all(), "likeliest first"
    s = q.ranking_scores(ranked.ids, flipped, 100, 300)
    # 20 flipped among 2,000: a random ranking has an average precision of about 0.01 and 3 % of them in the top 60
    assert s["recall_at_300"] >= 0.7 and s["average_precision"] >= 0.3, s
    # the neighbours that make the case: the suggested label is the one most of them carry
    top = ranked.head(10)
    for row in range(10):
        votes = np.bincount(noisy[top.neighbours[row]], minlength=10)
        assert top.suggested[row] != top.given[row]
        assert votes[top.suggested[row]] >= votes[top.given[row]]


def test_one_flipped_label_of_a_typical_item_goes_to_the_top(slice_):
    _, labels, codes, _ = slice_
    clean = q.likely_mislabels(codes, labels)
    typical = int(clean.ids[-1])  # the item its neighbours agree with most
    noisy = labels.copy()
    noisy[typical] = (labels[typical] + 1) % 10
    ranked = q.likely_mislabels(codes, noisy)
    assert int(np.flatnonzero(ranked.ids == typical)[0]) < 20  # of 2,000
    row = ranked.head(int(np.flatnonzero(ranked.ids == typical)[0]) + 1)
    assert row.suggested[-1] == labels[typical], "the neighbours suggest its true class"


def test_only_the_items_asked_are_ranked_against_all(slice_):
    _, labels, codes, _ = slice_
    ranked = q.likely_mislabels(codes, labels, among=np.arange(100, 200), top=30)
    assert len(ranked) == 30 and set(ranked.ids) <= set(range(100, 200))
    assert ranked.neighbours.shape == (30, q.K_VOTE) and (ranked.neighbours != ranked.ids[:, None]).all()


def test_mislabels_need_labels_and_say_so(slice_):
    _, _, codes, _ = slice_
    with pytest.raises(ValueError, match="needs labels"):
        q.likely_mislabels(codes, None)
    with pytest.raises(ValueError, match="one label per item"):
        q.likely_mislabels(codes, np.zeros(5, np.int64))
    with pytest.raises(ValueError, match="NaN"):
        q.likely_mislabels(np.full((4, 2), np.nan), np.zeros(4, np.int64))


# ------------------------------------------------------------------------------------------ outliers


def test_outliers_by_error_and_by_density(slice_):
    _, _, codes, errors = slice_
    hood = q.code_neighbours(codes, q.K)
    worst = q.by_error(errors, hood, top=50)
    assert list(worst.ids) == list(np.argsort(-errors, kind="stable")[:50])
    assert (np.diff(worst.score) <= 0).all() and worst.measure == "reconstruction error"
    with_nan = errors.copy()
    with_nan[int(worst.ids[0])] = np.nan  # imported codes have no error: never ranked
    assert int(worst.ids[0]) not in q.by_error(with_nan, hood).ids
    far = codes.copy()
    far[123] += 50.0  # one code moved far from every other
    lonely = q.by_density(q.code_neighbours(far, q.K), top=10)
    assert lonely.ids[0] == 123 and (np.diff(lonely.score) <= 0).all()
    assert np.isclose(lonely.score[0], lonely.distances[0].mean())


# ------------------------------------------------------------------------------------- near-duplicates


def test_an_inserted_duplicate_pair_is_found_with_its_distances(fmnist, slice_, dense):
    images, labels, codes, _ = slice_
    images = images.copy()
    images[1500] = images[42]  # an exact copy
    rng = np.random.default_rng(0)
    near = images[7].astype(np.int16) + rng.integers(-3, 4, images[7].shape)
    images[900] = np.clip(near, 0, 255).astype(np.uint8)  # a near copy
    codes, _ = encode_with_error(dense, images)
    found = q.near_duplicates(images, q.code_neighbours(codes, q.K), top=50)
    pairs = list(zip(found.a.tolist(), found.b.tolist(), strict=True))
    assert pairs[0] == (42, 1500) and found.pixel_distance[0] == 0 and found.code_distance[0] < 1e-3
    assert (7, 900) in pairs
    i = pairs.index((7, 900))
    expected = np.sqrt(((images[7] / 255.0 - images[900] / 255.0) ** 2).mean())
    assert np.isclose(found.pixel_distance[i], expected, atol=1e-6) and 0 < found.pixel_distance[i] < 0.02
    assert np.isclose(found.code_distance[i], np.linalg.norm(codes[7] - codes[900]), rtol=1e-3, atol=1e-5)
    assert (np.diff(found.pixel_distance) >= 0).all(), "closest in pixels first"
    assert found.kinds(1000)[0] == "test-train" and found.kinds(2000)[0] == "test-test"


def test_empty_and_tiny_inputs_give_empty_tables():
    one = np.zeros((1, 3), np.float32)
    idx, dist = q.code_neighbours(one, 5)
    assert idx.shape == (1, 0)
    assert len(q.near_duplicates(np.zeros((1, 4, 4), np.uint8), (idx, dist))) == 0
    assert len(q.by_density((idx, dist))) == 1
    m = q.likely_mislabels(np.eye(4, dtype=np.float32), np.array([0, 1, 0, 1]), k=2, among=[])
    assert len(m) == 0
    frame = m.frame(np.array([0, 1, 0, 1]), CLASS_NAMES, 2)
    text = exports.table_csv(frame).decode()
    assert text.splitlines() == [",".join(frame.columns)] and "confidence" in text


# ----------------------------------------------------------------------------------------- storage


def test_lists_round_trip_and_a_dataset_without_labels_stores_no_mislabels(tmp_path, slice_):
    images, labels, codes, errors = slice_
    for name, given in (("labelled", labels), ("plain", None)):
        lists = cq.compute_lists(codes, given, images, errors, top=40)
        path = tmp_path / name / cq.QUALITY
        recon = images[lists["by_error"].ids[:5]]
        cq.write_quality(path, lists, recon, weights_sha256="w", dataset_sha256="d", n_test=N, n_items=N)
        shutil.copy(default_root() / "dense" / CONFIG, tmp_path / name / CONFIG)
        back = cq.load_quality(name, tmp_path, check_weights=False)
        assert (back.mislabels is None) == (given is None)
        assert np.array_equal(back.by_error.ids, lists["by_error"].ids) and back.by_error.ids.dtype == np.int64
        assert np.array_equal(back.duplicates.pixel_distance, lists["duplicates"].pixel_distance)
        assert np.array_equal(back.reconstructions, recon) and back.k == q.K
        if given is not None:
            assert np.array_equal(back.mislabels.neighbours, lists["mislabels"].neighbours)
            assert back.mislabels.neighbours.shape == (40, q.K)


def test_missing_stale_and_damaged_lists_name_the_command(tmp_path):
    run = tmp_path / "dense"
    run.mkdir()
    for f in (CONFIG, WEIGHTS):
        shutil.copy(default_root() / "dense" / f, run / f)
    with pytest.raises(cq.QualityError, match="missing.*python -m explorer prepare dense"):
        cq.load_quality("dense", tmp_path)
    shutil.copy(default_root() / "dense" / cq.QUALITY, run / cq.QUALITY)
    assert cq.load_quality("dense", tmp_path).mislabels is not None
    lists = cq.load_quality("dense", tmp_path)
    tables = {"mislabels": lists.mislabels, "by_error": lists.by_error, "by_density": lists.by_density,
              "duplicates": lists.duplicates}  # fmt: skip
    cq.write_quality(run / cq.QUALITY, tables, lists.reconstructions, weights_sha256="0" * 64,
                     dataset_sha256=lists.dataset_sha256, n_test=lists.n_test, n_items=lists.n_items)  # fmt: skip
    with pytest.raises(cq.QualityError, match="other weights.*prepare dense"):
        cq.load_quality("dense", tmp_path)
    (run / cq.QUALITY).write_bytes(b"not a zip")
    with pytest.raises(cq.QualityError, match="damaged.*prepare dense"):
        cq.load_quality("dense", tmp_path)


# -------------------------------------------------------------------------------- the shipped lists


@pytest.mark.parametrize(
    "run", ["dense", "sparse", "vae", "denoising", "fashion-mnist/vae-beta4", "fashion-mnist/vae-latent2"]
)
def test_the_shipped_runs_lists_are_current(fmnist, run):
    lists = cq.load_quality(run, None if "/" not in run else default_root())  # checks the weights' hash
    assert lists.dataset_sha256 == fmnist.sha256 and (lists.n_items, lists.n_test) == (70_000, N_TEST)
    assert len(lists.mislabels) == q.TOP and len(lists.duplicates) == q.TOP and len(lists.by_density) == q.TOP


def test_the_csv_exports_hold_the_lists(fmnist):
    lists = cq.load_quality("dense")
    labels = fmnist.all_labels
    frame = lists.mislabels.frame(labels, CLASS_NAMES, N_TEST)
    back = pd.read_csv(io.BytesIO(exports.table_csv(frame)))
    assert len(back) == q.TOP and list(back["id"]) == list(lists.mislabels.ids)
    first = back.iloc[0]
    i = int(first["id"])
    assert first["given_label"] == labels[i] and first["given_class"] == CLASS_NAMES[labels[i]]
    assert first["split"] == ("test" if i < N_TEST else "train")
    assert [int(x) for x in first["neighbour_ids"].split()] == list(lists.mislabels.neighbours[0])
    dup = pd.read_csv(io.BytesIO(exports.table_csv(lists.duplicates.frame(labels, CLASS_NAMES, N_TEST))))
    assert list(dup.columns) == ["rank", "id_a", "id_b", "splits", "label_a", "label_b", "class_a", "class_b",
                                 "code_distance", "pixel_distance"]  # fmt: skip
    assert np.allclose(dup["pixel_distance"], lists.duplicates.pixel_distance, rtol=1e-5, atol=1e-7)
    out = pd.read_csv(io.BytesIO(exports.table_csv(lists.by_error.frame(labels, CLASS_NAMES, N_TEST))))
    assert "reconstruction_error" in out.columns and (np.diff(out["reconstruction_error"]) <= 0).all()


# ------------------------------------------------------------------------------------------ the page


def test_the_page_shows_three_galleries_for_a_shipped_run():
    at = open_page("quality")
    assert_clean(at)
    assert at.title[0].value == "Data quality"
    assert [t.label for t in at.tabs] == ["Likely mislabels", "Outliers", "Near-duplicates"]
    assert len(at.get("image")) == 3 and len(at.get("download_button")) == 3
    at.radio(key="dq_outlier").set_value("density").run()
    assert_clean(at)
    at.number_input(key="dq_page_mislabels").set_value(3).run()
    assert_clean(at)
    at.selectbox(key="variant").set_value("vae").run()
    assert_clean(at)
    assert len(at.get("image")) == 3


def test_the_page_says_so_when_a_list_is_empty_or_missing(tmp_path, monkeypatch):
    """A run whose stored lists are empty (nothing ranked) gets a calm notice per tab; a run without lists gets the
    command that makes them."""
    from explorer.checkpoint import ENV_VAR

    shipped = cq.load_quality("dense")
    root = tmp_path / "checkpoints"
    for run in ("dense", "vae"):
        (root / run).mkdir(parents=True)
        for f in (CONFIG, WEIGHTS, "metrics.json", "projection-test.npz"):
            shutil.copy(default_root() / run / f, root / run / f)
    monkeypatch.setenv(ENV_VAR, str(root))
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path / "runs"))
    empty = {
        "mislabels": shipped.mislabels.head(0),
        "by_error": shipped.by_error.head(0),
        "by_density": shipped.by_density.head(0),
        "duplicates": shipped.duplicates.head(0),
    }
    keys = {f: getattr(shipped, f) for f in ("weights_sha256", "dataset_sha256", "n_test", "n_items")}
    cq.write_quality(root / "dense" / cq.QUALITY, empty, shipped.reconstructions[:0], **keys)
    at = open_page("quality")
    assert_clean(at)
    notices = "\n".join(i.value for i in at.info)
    assert "too small for neighbours to vote" in notices and "No near-duplicate pairs" in notices
    assert "nothing to rank" in notices and not at.get("image")
    at.selectbox(key="variant").set_value("vae").run()
    assert_clean(at)
    assert "no data-quality lists for this run yet" in "\n".join(i.value for i in at.info)
    assert "python -m explorer prepare vae" in "\n".join(c.value for c in at.code)
