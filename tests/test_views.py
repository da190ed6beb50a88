"""What the dashboard's pages show, as plain functions (explorer.selection, .neighbours, .denoise, .compare, .upload,
.images, .figures), on real Fashion-MNIST images.

Tests that need a trained model use the checkpoints the repository ships in the default root: a missing one fails.
"""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from explorer import compare, exports, figures, images, inference, neighbours, selection
from explorer.checkpoint import load_model as _model
from explorer.data import CLASS_NAMES
from explorer.denoise import denoise
from explorer.metrics import median3
from explorer.projection import load_projection as _projection
from explorer.upload import prepare_upload, upload_view
from tests.support.imports import imported_packages
from tests.support.plotly_arrays import decode

REPO = Path(__file__).resolve().parent.parent
CORE = sorted(p for p in (REPO / "explorer").rglob("*.py") if "ui" not in p.relative_to(REPO / "explorer").parts)


def test_core_never_imports_streamlit():
    # In the source, wherever the import is: a lazy one would only show up when its function runs.
    assert CORE and not [str(p.relative_to(REPO)) for p in CORE if "streamlit" in imported_packages(p)]
    # And at run time: importing every core module pulls no streamlit in by way of a dependency.
    importable = [p for p in CORE if p.name != "__main__.py"]  # the entry point: importing it runs the CLI
    modules = ", ".join(
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__") for p in importable
    )
    code = f"import sys, {modules}; sys.exit('streamlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_generation_imports_torch_only_when_it_runs_a_model():
    tree = ast.parse((REPO / "explorer" / "generation.py").read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not [ast.unparse(n) for n in top if "torch" in ast.unparse(n)]


# ------------------------------------------------------------------------------------ selections


def _point(curve, index, custom):
    return {
        "curve_number": curve,
        "point_number": index,
        "point_index": index,
        "x": 0.1,
        "y": 0.2,
        "customdata": custom,
    }


def test_selected_ids_reads_the_global_id_whatever_the_trace():
    # What st.plotly_chart returns: per-trace point indices (both 7 here) but distinct global ids.
    event = {
        "selection": {
            "points": [
                _point(2, 7, {"0": 4021, "1": 0.013}),  # a numpy customdata row, as the browser sends it
                _point(5, 7, [17, 0.020]),  # a list row
                _point(5, 8, 9),  # a scalar
                _point(2, 7, {"0": 4021, "1": 0.013}),  # the same point twice (box + lasso)
                {"curve_number": 10, "point_number": 0, "x": 1, "y": 2},  # an overlay marker: no customdata
                _point(1, 1, []),
            ],
            "point_indices": [7, 7, 8, 7, 0],
            "box": [],
            "lasso": [],
        }
    }
    assert selection.selected_ids(event) == [4021, 17, 9]
    assert selection.selected_ids(event["selection"]) == [4021, 17, 9]
    assert selection.selected_ids(None) == [] and selection.selected_ids({"selection": {"points": []}}) == []


def test_display_order():
    ids = list(range(100, 200))
    errors = np.linspace(0, 1, 100)
    assert selection.display_order(ids, 5, errors) == [199, 198, 197, 196, 195]  # worst first
    assert selection.display_order(ids[:3], 5) == [100, 101, 102]  # all, as selected
    sample = selection.display_order(ids, 10, seed=3)
    assert len(set(sample)) == 10 and set(sample) <= set(ids) and sample == sorted(sample)
    assert sample == selection.display_order(ids, 10, seed=3)  # stable across reruns


def test_the_test_items_come_first_on_every_map():
    coords_all = np.arange(140_000, dtype=np.float32).reshape(70_000, 2)  # an "all" map: row = item id
    assert np.array_equal(selection.coords_of_test_items(coords_all), coords_all[:10_000])
    assert np.array_equal(selection.coords_of_test_items(coords_all[:10_000]), coords_all[:10_000])  # a "test" map


def test_panel_rows_from_a_selection(fmnist):
    items = np.concatenate([fmnist.test.images, fmnist.train.images])
    labels = np.concatenate([fmnist.test.labels, fmnist.train.labels])
    event = {"selection": {"points": [_point(0, 0, {"0": 5}), _point(3, 2, [10_003, 0.1]), _point(1, 1, [99_999])]}}
    ids = selection.selected_ids(event)
    inverted = lambda x: 255 - x  # a stand-in reconstruction with a known error
    rows = selection.panel_rows(ids, items, labels, inverted)
    assert [r.id for r in rows] == [5, 10_003]  # 99,999 is no item: dropped
    assert rows[1].label == fmnist.train.labels[3] and rows[1].class_name == CLASS_NAMES[rows[1].label]
    assert np.array_equal(rows[0].original, fmnist.test.images[5])
    assert np.array_equal(rows[0].reconstruction, 255 - fmnist.test.images[5])
    expected = (((255 - 2 * fmnist.test.images[5].astype(np.float32)) / 255) ** 2).mean()
    assert rows[0].error == pytest.approx(expected, rel=1e-5)
    assert len(selection.panel_rows(range(100), items, labels, inverted, limit=7)) == 7
    assert selection.panel_rows([], items, labels, inverted) == []

    grid = selection.panel_image(rows, per_row=5, scale=2)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3


def test_panel_rows_with_a_real_model(fmnist):
    model = _model("dense")
    proj = _projection("dense")
    ids = [0, 1, 2, 3]
    rows = selection.panel_rows(ids, fmnist.test.images, fmnist.test.labels, lambda x: inference.reconstruct(model, x))
    # The panel's error (from 8-bit images) matches the stored per-image MSE to quantisation precision.
    assert np.allclose([r.error for r in rows], proj.recon_mse[ids], atol=2e-4)


def test_class_summary():
    assert selection.class_summary(np.array([7, 7, 5, 9])) == "50% Sneaker, 25% Sandal, 25% Ankle boot"
    assert selection.class_summary(np.array([], dtype=int)) == ""


# ------------------------------------------------------------------------------------ neighbours


def test_agreement_counts_shared_neighbours():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 10)).astype(np.float32)
    codes = {"a": a, "same": a * 3.0, "other": rng.normal(size=(500, 4)).astype(np.float32)}
    found = neighbours.neighbours_all(codes, {n: c[17] for n, c in codes.items()}, k=10, exclude=17)
    assert all(17 not in r.idx for r in found.values())  # the query itself is left out
    agree = neighbours.agreement(found, "a")
    assert agree["a"] == 10 and agree["same"] == 10  # scaling a space keeps its neighbours
    expected = len(set(found["a"].idx) & set(found["other"].idx))
    assert agree["other"] == expected
    labels = np.arange(500) % 3
    assert neighbours.same_class(found, labels, 1)["a"] == int((labels[found["a"].idx] == 1).sum())


def test_neighbours_of_every_variant_on_real_maps(fmnist):
    projections = {name: _projection(name) for name in ("dense", "sparse", "denoising", "vae")}
    codes = {n: p.codes for n, p in projections.items()}
    found = neighbours.neighbours_all(codes, {n: c[42] for n, c in codes.items()}, k=10, exclude=42)
    agree = neighbours.agreement(found, "dense")
    assert agree["dense"] == 10 and all(0 <= v <= 10 for v in agree.values())
    for r in found.values():
        assert len(r.idx) == 10 and np.all(np.diff(r.dist) >= 0)  # nearest first


def test_sampling_helpers(fmnist):
    labels = fmnist.test.labels
    ids = neighbours.sample_per_class(labels, per_class=2, seed=1)
    assert list(labels[ids]) == [c for c in range(10) for _ in range(2)]
    assert np.array_equal(ids, neighbours.sample_per_class(labels, per_class=2, seed=1))
    item = neighbours.random_of_class(labels, 7, seed=5)
    assert labels[item] == 7 and item == neighbours.random_of_class(labels, 7, seed=5)
    with pytest.raises(ValueError, match="class == 3: no item"):
        neighbours.random_of_class(np.array([0, 1]), 3, seed=0)


# -------------------------------------------------------------------------------- denoiser, VAE


def test_denoise_against_the_median(fmnist):
    model = _model("denoising")
    clean = fmnist.test.images[:6]
    res = denoise(model, clean, amount=0.2, seed=3)
    assert res.noisy.shape == res.model.shape == res.median.shape == (6, 28, 28)
    assert np.array_equal(res.median, median3(res.noisy))
    assert np.array_equal(res.clean, clean / np.float32(255))
    assert 0.05 < (res.noisy != res.clean).mean() < 0.2  # ~20% of the pixels hit, some keep their value
    again = denoise(model, clean, amount=0.2, seed=3)
    assert np.array_equal(again.noisy, res.noisy)  # seeded
    assert not np.array_equal(denoise(model, clean, 0.2, seed=4).noisy, res.noisy)
    assert list(res.scores().columns)[:3] == ["PSNR noisy (dB)", "PSNR model (dB)", "PSNR median (dB)"]
    assert (res.psnr_median > res.psnr_noisy).all()


# ------------------------------------------------------------------------------------------ images


def test_to_uint8_and_upscale():
    x = np.array([[[[0.0, 0.5], [1.0, 2.0]]]], dtype=np.float32)  # [1, 1, 2, 2], one value out of range
    u = images.to_uint8(x)
    assert u.shape == (1, 2, 2) and u.dtype == np.uint8 and u.tolist() == [[[0, 128], [255, 255]]]
    assert images.to_uint8(u) is u
    big = images.upscale(u[0], 3)
    assert big.shape == (6, 6) and (big[:3, :3] == 0).all() and (big[3:, 3:] == 255).all()  # crisp blocks
    with pytest.raises(ValueError, match="factor == 0"):
        images.upscale(u, 0)


def test_mosaic_layout(fmnist):
    imgs = fmnist.test.images[:5]
    m = images.mosaic(imgs, cols=2, pad=1, pad_value=7, scale=2)
    assert m.shape == (3 * 57 - 1, 2 * 57 - 1)  # 3 rows of 2, cells 56 px, 1 px gaps
    assert np.array_equal(m[:56, :56], images.upscale(imgs[0], 2))
    assert np.array_equal(m[57:113, 57:113], images.upscale(imgs[3], 2))
    assert (m[114:, 57:] == 7).all()  # the missing sixth cell
    with pytest.raises(ValueError, match="non-empty"):
        images.mosaic(np.zeros((0, 28, 28)))


def test_annotated_grid_and_png(fmnist):
    rows = [fmnist.test.images[:4], fmnist.test.images[4:6]]
    g = images.annotated_grid(
        rows,
        row_labels=["first", "second\nrow"],
        captions=[["a", "b", "c", "d"], []],
        bars=[[figures.CLASS_COLORS[0]] * 4, []],
        scale=2,
    )
    assert g.dtype == np.uint8 and g.shape[2] == 3
    assert g.shape[1] > 4 * 56  # four cells and the label column
    assert (g == np.array([78, 121, 167], np.uint8)).all(axis=2).sum() >= 4 * 56 * 3  # the four class bars
    png = exports.png_bytes(images.mosaic(rows[0]))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), images.mosaic(rows[0]))


def test_a_caption_too_wide_for_its_cell_wraps_instead_of_losing_its_end(fmnist):
    """Issue 14 #10: the map's upload neighbours (56 px cells, 14 px text) cut "T-shirt/top" and "Ankle boot"."""
    from PIL import ImageDraw

    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    font = images._font(14)
    assert images._wrap(probe, "T-shirt/top", font, 56) == ["T-shirt/", "top"]
    assert images._wrap(probe, "Ankle boot", font, 56) == ["Ankle", "boot"]
    assert images._wrap(probe, "Bag", font, 56) == ["Bag"]
    cells = [fmnist.test.images[:2]]
    short = images.annotated_grid(cells, captions=[["Bag\n#1", "Bag\n#2"]], scale=2, font_size=14)
    wrapped = images.annotated_grid(cells, captions=[["T-shirt/top\n#1", "Bag\n#2"]], scale=2, font_size=14)
    assert wrapped.shape[0] == short.shape[0] + 14 + 3  # one more caption line, the same width
    assert wrapped.shape[1] == short.shape[1]


# ------------------------------------------------------------------------------------------ figures


def test_latent_map_carries_global_ids(fmnist):
    rng = np.random.default_rng(0)
    labels = fmnist.test.labels[:2000]
    coords, errors = rng.normal(size=(2000, 2)), rng.random(2000)
    ids = np.arange(5000, 7000)
    fig = json.loads(figures.latent_map(coords, labels, errors, "class", ids=ids).to_json())
    assert [t["name"] for t in fig["data"]] == list(CLASS_NAMES)
    assert all(t["type"] == "scattergl" for t in fig["data"])
    sneakers = fig["data"][7]
    custom = decode(sneakers["customdata"])
    assert np.array_equal(custom[:, 0], ids[labels == 7])  # a point's id whatever its index in its trace
    assert sneakers["marker"]["color"] == figures.CLASS_COLORS[7]

    err = json.loads(figures.latent_map(coords, labels, errors, "error", ids=ids).to_json())
    assert len(err["data"]) == 1 and decode(err["data"][0]["customdata"]).shape == (2000, 2)
    with pytest.raises(ValueError, match="color_by == 'size'"):
        figures.latent_map(coords, labels, errors, "size")
    with pytest.raises(ValueError, match="need"):
        figures.latent_map(coords[:10], labels, errors)


def test_overlay_leaves_the_cached_map_alone(fmnist):
    base = figures.latent_map(np.zeros((30, 2)), fmnist.test.labels[:30], np.zeros(30)).to_dict()
    before = json.dumps(base, sort_keys=True, default=str)
    fig = figures.overlay(base, [figures.marker_trace([1.0, 2.0], "generated")], height=300)
    assert fig.data[-1].name == "generated" and fig.layout.height == 300
    assert json.dumps(base, sort_keys=True, default=str) == before


def test_training_curves():
    dense = [{"epoch": 1, "train_loss": 0.05, "val_loss": 0.04}, {"epoch": 2, "train_loss": 0.03, "val_loss": 0.035}]
    hist = {"dense": dense, "vae": [{"epoch": 1, "train_loss": 300.0, "val_loss": 280.0}]}
    fig = figures.overlaid_curves(hist, units={"dense": "MSE", "vae": "nats"})
    assert len(fig.data) == 2 * 3  # validation, train, best epoch per run
    best = [t for t in fig.data if t.mode == "markers"]
    assert list(best[0].x) == [2] and list(best[0].y) == [0.035]
    assert [a.text for a in fig.layout.annotations] == ["loss (MSE)", "loss (nats)"]  # a panel per loss unit


# ------------------------------------------------------------------------------------------ metrics


def test_metrics_table_puts_baselines_in_their_columns():
    metrics = {
        "dense": {"psnr": 20.5, "ssim": 0.75, "precision_at_10": 0.79, "sparsity": 0.1, "code_entropy_bytes": 9.0},
        "denoising": {"psnr": 19.0, "ssim": 0.7, "precision_at_10": 0.7, "denoise_psnr": 21.0, "denoise_ssim": 0.87},
        "vae": None,  # not evaluated yet
    }
    base = {
        "pca10": {"psnr": 18.0, "ssim": 0.6, "precision_at_10": 0.75},
        "raw_pixels": {"precision_at_10": 0.8},
        "median3": {"psnr": 20.1, "ssim": 0.85},
    }
    df = compare.metrics_table(metrics, base, {"dense": "Dense autoencoder"})
    assert list(df.index) == [
        "Dense autoencoder",
        "denoising",
        "vae",
        "PCA, 10 components",
        "Raw pixels (784-d)",
        "3×3 median filter",
    ]
    assert df.loc["3×3 median filter", "denoise PSNR (dB)"] == 20.1
    assert np.isnan(df.loc["3×3 median filter", "PSNR (dB)"])  # a filter's PSNR is a denoising score
    assert df.loc["PCA, 10 components", "PSNR (dB)"] == 18.0
    assert df["kind"].tolist() == ["autoencoder"] * 3 + ["baseline"] * 3
    assert df.loc["vae"].drop("kind").isna().all()
    assert "−ELBO (nats)" not in df  # a column nobody measured is left out
    assert list(compare.metrics_table({"vae": None}, None).columns) == ["kind"]


def test_metrics_table_from_the_evaluate_files():
    from explorer.commands.evaluate import load_baselines, load_metrics

    metrics = {n: load_metrics(n) for n in ("dense", "sparse", "denoising", "vae")}  # shipped: missing fails
    base = load_baselines()
    df = compare.metrics_table(metrics, base)
    assert df.loc["dense", "PSNR (dB)"] == pytest.approx(metrics["dense"]["psnr"])
    assert df.loc["vae", "−ELBO (nats)"] == pytest.approx(metrics["vae"]["neg_elbo"])
    assert df.loc["3×3 median filter", "denoise PSNR (dB)"] == pytest.approx(base["median3"]["psnr"])


# ------------------------------------------------------------------------------------ your own picture

UPLOADED_ITEM = 3  # the test item conftest's ``photo_png`` is a photo of


@pytest.mark.parametrize("name", ["dense", "vae"])
def test_an_uploaded_photo_of_an_item_is_found_where_the_item_is(fmnist, photo_png, name):
    model, proj = _model(name), _projection(name)
    item = fmnist.test.images[UPLOADED_ITEM]
    prepared = prepare_upload(photo_png, "photo.png")
    assert np.abs(prepared.image - item / 255).max() < 0.02  # the upload pipeline gives the item back

    up = upload_view(model, prepared.image, proj, k=10)
    assert up.neighbours.idx[0] == UPLOADED_ITEM and up.neighbours.variant == name
    assert len(up.neighbours.idx) == 10 and np.all(np.diff(up.neighbours.dist) >= 0)
    assert up.code.shape == (model.code_dim,)
    spread = np.ptp(proj.coords, axis=0).max()
    assert np.linalg.norm(up.xy - proj.coords[UPLOADED_ITEM]) < 0.01 * spread  # the star lands on the item's dot
    recon = inference.reconstruct(model, item[None])[0]
    assert np.abs(up.reconstruction - recon).max() < 0.05
    assert up.error == pytest.approx(float(((up.reconstruction - up.image) ** 2).mean()))
    assert up.denoised is None

    # On the 70k map the rule is the same, with that map's coordinates of the test items.
    coords_all = np.random.default_rng(0).normal(size=(70_000, 2)).astype(np.float32)
    on_all = upload_view(model, prepared.image, proj, map_coords=selection.coords_of_test_items(coords_all))
    assert np.allclose(on_all.xy, coords_all[UPLOADED_ITEM], atol=0.05)


def test_an_uploaded_photo_is_noised_and_cleaned(fmnist, photo_png):
    model = _model("denoising")
    prepared = prepare_upload(photo_png, "photo.png")
    up = upload_view(model, prepared.image, noise=0.3, seed=5)
    res = up.denoised
    assert np.array_equal(res.clean, prepared.image[None])  # floats in [0, 1] are taken as they are
    same = denoise(model, prepared.image[None], 0.3, seed=5)
    assert np.array_equal(res.noisy, same.noisy) and np.array_equal(res.model, same.model)  # seeded, as the page's
    assert 0.1 < (res.noisy != res.clean).mean() < 0.3
    assert up.neighbours is None and up.xy is None and up.code is None
    with pytest.raises(ValueError, match=r"image of shape \(1, 28, 28\): expected \[28, 28\]"):
        upload_view(model, prepared.image[None])


def test_codes_and_csv_of_a_selection_with_training_items(fmnist):
    from explorer.inference import encode_with_error

    model, proj = _model("dense"), _projection("dense")
    images = np.concatenate([fmnist.test.images, fmnist.train.images])  # item-id order
    labels = np.concatenate([fmnist.test.labels, fmnist.train.labels])
    ids = [5, 10_007, 42]
    codes = selection.item_codes(model, ids, proj.codes, images)
    assert np.array_equal(codes[[0, 2]], proj.codes[[5, 42]].astype(np.float32))  # stored
    assert np.allclose(codes[1], encode_with_error(model, fmnist.train.images[7:8])[0][0], atol=1e-6)  # encoded

    coords_all = np.random.default_rng(1).normal(size=(70_000, 2)).astype(np.float32)
    table = pd.read_csv(io.BytesIO(selection.selection_export(model, ids, labels, images, proj.codes, coords_all)))
    assert table["index"].tolist() == ids
    assert table["class_name"].tolist() == [CLASS_NAMES[labels[i]] for i in ids]
    assert np.allclose(table[["x", "y"]], coords_all[ids], rtol=1e-5)
    assert np.allclose(table.filter(like="code_"), codes, rtol=1e-5, atol=1e-6)
    on_test_map = pd.read_csv(
        io.BytesIO(selection.selection_export(model, [5, 42], labels, images, proj.codes, proj.coords))
    )
    assert np.allclose(on_test_map[["x", "y"]], proj.coords[[5, 42]], rtol=1e-5)


def test_majority_class():
    assert selection.majority_class(np.array([7, 5, 7, 9])) == 7
    assert selection.majority_class(np.array([9, 2])) == 2  # a tie: the smaller label
    with pytest.raises(ValueError, match="labels is empty"):
        selection.majority_class(np.array([], dtype=int))
