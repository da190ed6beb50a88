"""Downloads: PNG bytes of images, the selection CSV, standalone HTML and (with Kaleido + Chromium) PNG figures."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from PIL import Image

from explorer import exports
from explorer.data import CLASS_NAMES
from explorer.models import VARIANTS


def read_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(data)))


def test_png_of_a_dataset_item_is_lossless(fmnist):
    item = fmnist.test.images[0]
    assert np.array_equal(read_png(exports.png_bytes(item)), item)
    big = read_png(exports.png_bytes(item, scale=8))
    assert big.shape == (224, 224) and np.array_equal(big[::8, ::8], item)


def test_png_of_floats_and_tensor_shapes(small_batch):
    x, _ = small_batch  # float32 [64, 1, 28, 28] in [0, 1]
    out = read_png(exports.png_bytes(x[:1]))  # [1, 1, 28, 28]
    assert out.shape == (28, 28) and np.array_equal(out, np.rint(x[0, 0].numpy() * 255).astype(np.uint8))


def test_png_of_rgb_grid():
    rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    assert np.array_equal(read_png(exports.png_bytes(rgb)), rgb)
    assert read_png(exports.png_bytes(rgb, scale=2)).shape == (60, 80, 3)


def test_png_rejects_a_batch():
    with pytest.raises(ValueError, match=r"image of shape \(2, 28, 28\): expected \[H, W\]"):
        exports.png_bytes(np.zeros((2, 28, 28), np.uint8))


def test_selection_csv(fmnist):
    idx = np.array([3, 0, 9999])
    labels = fmnist.test.labels[idx]
    coords = np.array([[0.5, -1.25], [2.0, 3.0], [1e-7, 123456.789]])
    codes = np.arange(12, dtype=np.float32).reshape(3, 4) / 3
    data = exports.selection_csv(idx, labels, coords, codes)
    text = data.decode("utf-8")
    assert text.splitlines()[0] == "index,label,class_name,x,y,code_0,code_1,code_2,code_3"
    frame = pd.read_csv(io.BytesIO(data))
    assert frame["index"].tolist() == [3, 0, 9999]
    assert frame["label"].tolist() == labels.tolist()
    assert frame["class_name"].tolist() == [CLASS_NAMES[i] for i in labels]
    np.testing.assert_allclose(frame[["x", "y"]].to_numpy(), coords, rtol=1e-5)
    np.testing.assert_allclose(frame[[f"code_{j}" for j in range(4)]].to_numpy(), codes, rtol=1e-5)


def test_selection_csv_empty_selection_has_a_header():
    text = exports.selection_csv([], [], np.zeros((0, 2)), np.zeros((0, 3))).decode()
    assert text.strip() == "index,label,class_name,x,y,code_0,code_1,code_2"


def test_selection_csv_rejects_mismatched_rows():
    with pytest.raises(ValueError, match="selection of 2 indices with 2 labels, 2 coordinates and 3 codes"):
        exports.selection_csv([1, 2], [0, 1], np.zeros((2, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="label == 10: labels must be 0..9"):
        exports.selection_csv([1], [10], np.zeros((1, 2)), np.zeros((1, 4)))


def small_figure():
    return go.Figure(go.Scatter(x=[0, 1, 2], y=[2, 0, 1], mode="markers", customdata=[7, 8, 9], name="items"))


def test_figure_html_is_standalone():
    html = exports.figure_html(small_figure()).decode("utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert re.findall(r"<script[^>]*\bsrc=", html) == []  # nothing fetched: plotly.js is inline
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # the inlined library is ~4.5 MB
    assert '"customdata":[7,8,9]' in html.replace(" ", "")


@pytest.mark.browser
def test_figure_png_with_local_chromium():
    problem = exports.png_export_problem()
    if problem:
        pytest.skip(problem)
    img = read_png(exports.figure_png(small_figure(), width=300, height=200, scale=1))
    assert img.shape[:2] == (200, 300)
    assert len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 10  # drawn, not a blank page


@pytest.mark.browser
def test_the_training_curves_png_keeps_its_labels_inside():
    """The exported curves: nothing drawn at the image's edges (labels cut off) and the x tick labels clear of the
    'epoch' titles below them (a white band between the two)."""
    from explorer import checkpoint, compare, figures

    problem = exports.png_export_problem()
    if problem:
        pytest.skip(problem)
    root = str(checkpoint.default_root())
    histories = {v: compare.history(v, root) for v in VARIANTS}
    fig = figures.overlaid_curves(histories, units={v: compare.loss_unit(v) for v in histories})
    assert fig.layout.margin.l >= 40 and fig.layout.yaxis.automargin and fig.layout.xaxis.title.standoff
    img = read_png(exports.figure_png(fig, scale=1))[..., :3].astype(int)
    ink = (255 - img.min(axis=-1)) > 60  # text and lines, not the light grid
    assert not ink[:, :4].any() and not ink[:, -4:].any() and not ink[-4:].any(), "something is cut at an edge"
    # Under the plots: the rows with ink form at least two bands (tick labels, then titles), not one merged block.
    bottom = ink[int(0.85 * len(ink)) :].any(axis=1)
    bands = np.count_nonzero(np.diff(bottom.astype(int)) == 1) + int(bottom[0])
    assert bands >= 2, "the x tick labels touch the axis titles"
