"""The map component's data, without a browser: the binary columns (explorer.mapdata), the thumbnail atlas
(explorer.atlas), the selection's summary, similar items and A -> B direction (explorer.selection), and the tiles a
run sends when the atlas cannot be had. The browser side is tested in tests/test_demo_map.py."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from explorer import atlas, mapdata, selection
from explorer.inference import reconstruct
from explorer.models import get_variant
from tests.support.map_data import points as unpack
from tests.support.tiny import TINY

# ------------------------------------------------------------------------------------------- mapdata


def test_points_travel_as_binary_columns_within_a_pixel(fmnist):
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(5000, 2)).astype(np.float32) * [3, 1]
    labels, errors = fmnist.test.labels[:5000], rng.random(5000).astype(np.float32) / 10
    packed = mapdata.pack_points(coords, labels, errors)
    cols = unpack(packed)
    step = np.ptp(coords, axis=0) / 65535
    assert (np.abs(cols["xy"] - coords) <= step * 0.51 + 1e-6).all()
    assert (cols["label"] == labels).all()
    assert np.allclose(cols["error"], errors, rtol=1e-3, atol=1e-6)
    size = sum(len(packed[k]) for k in ("xy", "label", "error"))
    assert size == mapdata.message_bytes(5000) and size < 5000 * 10  # ~9.3 bytes a point, never per-point JSON
    assert mapdata.pack_points(coords, labels, errors)["hash"] == packed["hash"]
    assert mapdata.pack_points(coords[::-1], labels, errors)["hash"] != packed["hash"]


def test_points_without_labels_or_errors_and_bad_columns():
    coords = np.array([[0, 0], [1, 2], [np.nan, 5]], np.float32)
    packed = mapdata.pack_points(coords, None, np.full(3, np.nan, np.float32))
    assert packed["label"] is None and packed["error"] is None  # imported codes: no error to colour by
    assert np.isfinite(unpack(packed)["xy"]).all()  # a NaN row is drawn in a corner, not lost
    with pytest.raises(ValueError, match="labels has 2 rows for 3 points"):
        mapdata.pack_points(coords, np.zeros(2, int), None)
    with pytest.raises(ValueError, match="need \\[N, 2\\]"):
        mapdata.pack_points(np.zeros((3, 3)), None, None)


def test_a_million_jittered_points_fit_streamlits_message_limit():
    coords, labels, errors = mapdata.jittered(
        np.random.default_rng(1).normal(size=(700, 2)), np.arange(700) % 10, np.ones(700), 7000
    )
    assert coords.shape == (7000, 2) and (labels[:700] == np.arange(700) % 10).all()
    assert mapdata.message_bytes(1_000_000) < 10e6 < 200e6  # server.maxMessageSize is 200 MB


# ------------------------------------------------------------------------------------------- atlas


def _tile_array(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_a_tile_holds_its_items_row_major(fmnist):
    imgs = fmnist.test.images[:70]
    imgs = imgs[:61]
    tile = _tile_array(atlas.tile_png(imgs, side=8))
    assert tile.shape == (8 * 28, 8 * 28)  # 61 items: 8 rows of 8, the last one part-filled
    for i in (0, 7, 8, 60):
        r, c = divmod(i, 8)
        assert (tile[r * 28 : (r + 1) * 28, c * 28 : (c + 1) * 28] == imgs[i]).all()
    rgb = np.stack([imgs[:3]] * 3, axis=1)  # [3, 3, 28, 28]
    assert _tile_array(atlas.tile_png(rgb, side=2)).shape == (56, 56, 3)
    with pytest.raises(ValueError, match="uint8"):
        atlas.tile_png(imgs.astype(np.float32))


def test_an_atlas_is_built_saved_and_checked_against_the_weights(fmnist, tmp_path):
    imgs = fmnist.test.images[:300]
    model = get_variant("dense").build(TINY["dense"]).eval()
    recon = (np.clip(reconstruct(model, imgs), 0, 1) * 255).round().astype(np.uint8).reshape(imgs.shape)
    codes = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    a = atlas.build_atlas("abc", imgs, recon, codes, side=8)
    assert a.tiles == atlas.tile_count(300, 8) == 5 and len(a.reconstructions) == 5
    assert a.clusters.shape == (300,) and len(set(a.clusters.tolist())) == atlas.CLUSTERS
    path = atlas.save_atlas(a, tmp_path / "atlas-test.npz")
    back = atlas.load_atlas(path, "abc", "fix it")
    assert back.originals == a.originals and back.reconstructions == a.reconstructions
    assert (back.clusters == a.clusters).all() and back.item_shape == (28, 28)
    assert (_tile_array(back.reconstructions[4])[:28, 3 * 28 : 4 * 28] == recon[8 * 8 * 4 + 3]).all()
    with pytest.raises(atlas.AtlasError, match="other weights.*fix it"):
        atlas.load_atlas(path, "other", "fix it")
    path.write_bytes(b"not an npz")
    with pytest.raises(atlas.AtlasError, match="damaged.*fix it"):
        atlas.load_atlas(path, "abc", "fix it")
    with pytest.raises(atlas.AtlasError, match="missing.*fix it"):
        atlas.load_atlas(tmp_path / "none.npz", "abc", "fix it")


def test_tiles_that_cannot_be_had_are_sent_as_unavailable():
    """A failing atlas (e.g. the dataset went missing): the browser is told, and shows "thumbnail unavailable"."""
    from explorer.ui.map_component import AtlasSource, _tiles

    def broken():
        raise OSError("the dataset is gone")

    source = AtlasSource("h", tiles=3, side=32, item_shape=(28, 28), has_recon=True, load=broken)
    tiles, clusters = _tiles(source, [0, 2, 9])
    assert tiles == {"hash": "h", "orig": {"0": None, "2": None}, "recon": {"0": None, "2": None}}
    assert clusters is None

    imgs = np.zeros((40, 28, 28), np.uint8)
    good = atlas.build_atlas("h", imgs, imgs, None, side=4)
    source = AtlasSource("h", tiles=good.tiles, side=4, item_shape=(28, 28), has_recon=True, load=lambda: good)
    tiles, _ = _tiles(source, [1])
    assert base64.b64decode(tiles["orig"]["1"]) == good.originals[1]


# ------------------------------------------------------------------------------------------- selections


def test_a_selections_summary(fmnist):
    labels = fmnist.test.labels
    errors = np.linspace(0, 1, len(labels)).astype(np.float32)
    ids = np.flatnonzero(labels == 7)[:30].tolist() + np.flatnonzero(labels == 5)[:10].tolist()
    s = selection.summary(ids, labels, errors)
    assert s.names[:2] == ("Sneaker", "Sandal") and s.counts.tolist() == [30, 10]
    assert s.shares.sum() == pytest.approx(1.0)
    assert s.mean_error == pytest.approx(float(errors[ids].mean())) and s.map_error == pytest.approx(0.5)
    bare = selection.summary(ids, None, np.full(len(labels), np.nan))
    assert bare.counts is None and bare.mean_error is None
    with pytest.raises(ValueError, match="nothing selected"):
        selection.summary([], labels, errors)


def test_similar_to_a_selection_and_the_direction_between_two_groups():
    rng = np.random.default_rng(0)
    bank = rng.normal(size=(500, 3)).astype(np.float32)
    bank[:20] += 10  # a far-away group
    near, dist = selection.similar_to(bank[:10], bank, k=5, exclude=range(10))
    assert set(near.tolist()) <= set(range(10, 20)) and (np.diff(dist) >= 0).all()
    start, vector = selection.group_direction(bank[:20], bank[20:])
    assert np.allclose(start + vector, bank[20:].mean(axis=0), atol=1e-5)
    t, codes = selection.strip_points(start, vector, steps=5, span=(0, 1))
    assert np.allclose(codes[0], start) and np.allclose(codes[-1], start + vector, atol=1e-5) and t[2] == 0.5
    with pytest.raises(ValueError, match="need"):
        selection.group_direction(bank[:0], bank)
