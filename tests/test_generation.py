"""Directions, grids, interpolation paths and the Fréchet distance (checked against closed forms)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer import generation as g
from explorer import report
from explorer.inference import decode, encode
from explorer.judge import Judge, JudgeConfig
from explorer.models import VAE, VAEConfig


@pytest.fixture(scope="module")
def tiny_vae():
    torch.manual_seed(0)
    return VAE(VAEConfig(hidden=16, latent_dim=10)).eval()


@pytest.fixture(scope="module")
def tiny_judge():
    torch.manual_seed(0)
    return Judge(JudgeConfig(channels=(4, 4, 4), hidden=8)).eval()


# ------------------------------------------------------------------------------------------------ FID


def test_frechet_identical_is_zero():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(500, 6))
    mu, s = f.mean(0), np.cov(f, rowvar=False)
    assert abs(g.frechet_distance(mu, s, mu, s)) < 1e-8


def test_frechet_shifted_gaussians_closed_form():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(8, 8))
    s = a @ a.T + np.eye(8)  # any SPD covariance
    delta = rng.normal(size=8)
    # Same covariance: the distance is exactly the squared shift.
    assert g.frechet_distance(np.zeros(8), s, delta, s) == pytest.approx(delta @ delta, rel=1e-8, abs=1e-8)


def test_frechet_diagonal_covariances_closed_form():
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    # For commuting covariances Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(s1) - sqrt(s2))^2.
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert g.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_frechet_estimated_from_samples_of_shifted_gaussians():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20_000, 4))
    y = rng.normal(size=(20_000, 4)) + np.array([1.0, -2.0, 0.5, 0.0])
    d = g.frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert d == pytest.approx(5.25, abs=0.15)  # 3 standard errors of the estimated shift


def test_frechet_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes do not match"):
        g.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_fashion_fid_identical_sets_zero_and_different_sets_positive(tiny_judge, fmnist):
    a, b = fmnist.test.images[:300], fmnist.test.images[300:600]

    def fid(x, y):
        return g.frechet_distance(*g.feature_stats(tiny_judge, x), *g.feature_stats(tiny_judge, y))

    assert abs(fid(a, a)) < 1e-6
    noise = np.random.default_rng(0).random((300, 28, 28)).astype(np.float32)
    assert fid(a, noise) > fid(a, b) > 0


# -------------------------------------------------------------------------------------- interpolation


def test_interpolate_endpoints_and_linear_midpoint():
    a, b = np.arange(10, dtype=np.float32), -np.ones(10, np.float32)
    for mode in ("linear", "slerp"):
        path = g.interpolate(a, b, 7, mode)
        assert path.shape == (7, 10)
        np.testing.assert_allclose(path[0], a, atol=1e-6)
        np.testing.assert_allclose(path[-1], b, atol=1e-6)
    np.testing.assert_allclose(g.interpolate(a, b, 3)[1], (a + b) / 2, atol=1e-6)


def test_slerp_keeps_the_norm_of_equal_norm_endpoints_and_linear_does_not():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=10), rng.normal(size=10)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    norms = np.linalg.norm(g.interpolate(a, b, 11, "slerp"), axis=1)
    np.testing.assert_allclose(norms, np.linalg.norm(a), rtol=1e-5)
    assert np.linalg.norm(g.interpolate(a, b, 11, "linear")[5]) < 0.99 * np.linalg.norm(a)


def test_interpolate_validation():
    with pytest.raises(ValueError, match="mode == 'cubic'"):
        g.interpolate(np.zeros(2), np.ones(2), 3, "cubic")
    with pytest.raises(ValueError, match="steps == 1"):
        g.interpolate(np.zeros(2), np.ones(2), 1)
    with pytest.raises(ValueError, match="lengths 2 and 3"):
        g.interpolate(np.zeros(2), np.ones(3), 3)


# ---------------------------------------------------------------------------------------------- grids


def test_manifold_grid_shape_and_tiles_are_the_decoded_grid_points(tiny_vae):
    origin, u, v = g.axis_plane(10, 0, 3)
    grid = g.manifold_grid(tiny_vae, origin, u, v, n=5, span=2.0)
    assert grid.shape == (140, 140) and grid.dtype == np.uint8
    # Tile (row 1, column 4): dimension 0 = +2 (rightwards), dimension 3 = -1 (downwards).
    z = np.zeros(10, np.float32)
    z[0], z[3] = 2.0, -1.0
    expected = np.round(decode(tiny_vae, z[None])[0] * 255)
    np.testing.assert_allclose(grid[28:56, 112:140], expected, atol=1)
    assert g.manifold_grid(tiny_vae, origin, u, v).shape == (15 * 28, 15 * 28)  # the default 15×15


def test_plane_through_three_items_puts_them_on_the_corners(tiny_vae, fmnist):
    z = encode(tiny_vae, fmnist.test.images[:3])
    origin, u, v = g.plane_through(*z)
    pts = g.grid_latents(origin, u, v, n=4, span=(0.0, 1.0))
    np.testing.assert_allclose(pts[0, 0], z[0], atol=1e-5)
    np.testing.assert_allclose(pts[0, -1], z[1], atol=1e-5)
    np.testing.assert_allclose(pts[-1, 0], z[2], atol=1e-5)
    with pytest.raises(ValueError, match="one line"):
        g.plane_through(z[0], z[1], 2 * z[1] - z[0])


def test_grid_validation(tiny_vae):
    with pytest.raises(ValueError, match="n == 1"):
        g.grid_coordinates(1)
    with pytest.raises(ValueError, match="span"):
        g.grid_coordinates(5, (1.0, -1.0))
    with pytest.raises(ValueError, match="two different"):
        g.axis_plane(10, 2, 2)
    with pytest.raises(ValueError, match=r"decodes \[N, 10\]"):
        decode(tiny_vae, np.zeros((2, 3)))


def test_the_pages_grids_axis_and_items(tiny_vae, fmnist):
    origin, u, v = g.axis_plane(10, 0, 3, np.full(10, 0.5, np.float32))
    through = np.full(10, 0.5, np.float32)
    np.testing.assert_array_equal(
        g.axis_grid(tiny_vae, 0, 3, 4, 2.0, through), g.manifold_grid(tiny_vae, origin, u, v, 4, 2.0)
    )
    three = fmnist.test.images[:3]
    expected = g.manifold_grid(tiny_vae, *g.plane_through(*encode(tiny_vae, three)), n=5, span=g.ITEMS_SPAN)
    np.testing.assert_array_equal(g.items_grid(tiny_vae, three, 5), expected)


def test_item_path_decodes_the_interpolation_between_two_items(tiny_vae, fmnist):
    two = fmnist.test.images[:2]
    path, decoded = g.item_path(tiny_vae, two, 6, "slerp")
    mu = encode(tiny_vae, two)
    np.testing.assert_allclose(path, g.interpolate(mu[0], mu[1], 6, "slerp"), atol=1e-6)
    np.testing.assert_allclose(decoded, decode(tiny_vae, path), atol=1e-6)
    assert decoded.shape == (6, 28, 28)


def test_labelled_directions_and_clipped_points(tiny_vae, fmnist):
    codes = encode(tiny_vae, fmnist.test.images)
    labelled = g.labelled_directions(codes, fmnist.test.labels)
    assert [label for label, _ in labelled][0] == "Sneaker → Ankle boot" and len(labelled) == len(g.DEFAULT_PAIRS)
    means = g.class_means_of_codes(codes, fmnist.test.labels)
    np.testing.assert_allclose(labelled[0][1], means[9] - means[7], atol=1e-6)
    assert g.clip_z([3.456, -7.0, 0.125]) == [3.0, -3.0, 0.12]


# ------------------------------------------------------------------------------------------ directions


def test_class_directions_move_one_class_mean_onto_the_other(tiny_vae, fmnist):
    split = fmnist.test
    codes = encode(tiny_vae, split.images[:2000])
    labels = split.labels[:2000]
    dirs = g.directions_from_means(g.class_means_of_codes(codes, labels), pairs=((7, 9), (9, 7), (6, 0)))
    assert set(dirs) == {(7, 9), (9, 7), (6, 0)}
    np.testing.assert_allclose(codes[labels == 7].mean(0) + dirs[(7, 9)], codes[labels == 9].mean(0), atol=1e-5)
    np.testing.assert_allclose(dirs[(7, 9)], -dirs[(9, 7)], atol=1e-6)
    assert g.direction_label((7, 9)) == "Sneaker → Ankle boot"


def test_class_directions_validation(tiny_vae, fmnist):
    with pytest.raises(ValueError, match=r"pair \(3, 3\)"):
        g.directions_from_means(np.zeros((10, 4)), pairs=((3, 3),))
    with pytest.raises(ValueError, match="no images of class"):
        g.class_means_of_codes(encode(tiny_vae, fmnist.test.images[:20]), np.zeros(20, np.int64))


# -------------------------------------------------------------------------------------------- quality


def test_generation_quality_rows_and_train_floor(tiny_vae, tiny_judge, fmnist):
    from types import SimpleNamespace

    small = SimpleNamespace(
        train=fmnist.train, test=type(fmnist.test)(fmnist.test.images[:400], fmnist.test.labels[:400])
    )
    r = g.generation_quality(tiny_vae, tiny_judge, small, n=400, seed=0)
    assert set(r["rows"]) == {"vae", "pca_gaussian", "train"}
    for row in r["rows"].values():
        assert row["images"] == 400 and row["fid"] >= -1e-6 and 0.1 <= row["confidence"] <= 1.0
    # Real train images are closer to real test images than an untrained VAE's samples.
    assert r["rows"]["train"]["fid"] < r["rows"]["vae"]["fid"]
    assert "Fashion-FID" in report.render_generation_table(r)


@pytest.mark.slow
def test_shipped_vae_direction_turns_a_sneaker_into_an_ankle_boot(fmnist):
    from pathlib import Path

    from explorer.checkpoint import load_judge, load_model

    shipped = Path(__file__).resolve().parent.parent / "checkpoints"
    vae, judge = load_model("vae", shipped), load_judge(shipped)
    split = fmnist.train
    means = g.class_means_of_codes(encode(vae, split.images[:20_000]), split.labels[:20_000])
    d = g.directions_from_means(means, pairs=((7, 9),))[(7, 9)]
    p = judge.predict_proba(decode(vae, np.stack([means[7], means[7] + d])))
    assert p.argmax(1).tolist() == [7, 9]  # Sneaker, then Ankle boot
