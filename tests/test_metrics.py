import numpy as np
import pytest

from explorer.metrics import (
    adaptive_median,
    code_entropy_bytes,
    code_sparsity,
    median3,
    psnr_per_image,
    quantise,
    ssim_per_image,
)
from explorer.neighbours import knn, neighbours_all, precision_at_k, search_codes


def test_psnr_known_values():
    a = np.zeros((2, 28, 28))
    b = a.copy()
    b[0] += 0.1  # MSE 0.01 -> 20 dB
    assert psnr_per_image(b, a)[0] == pytest.approx(20.0)
    assert psnr_per_image(b, a)[1] == pytest.approx(100.0)
    assert psnr_per_image(a - 5, a)[0] == pytest.approx(100.0)  # outputs are clipped to [0, 1]
    flat = psnr_per_image(b.reshape(2, 784), a.reshape(2, 784))  # flattened batches stay per image
    assert flat.shape == (2,) and flat[0] == pytest.approx(20.0)


def test_ssim_identical_is_one(fmnist):
    x = fmnist.test.images[:4] / 255.0
    assert np.allclose(ssim_per_image(x, x), 1.0)
    assert (ssim_per_image(np.clip(x + 0.3, 0, 1), x) < 0.95).all()


def test_median_filters_remove_impulses(fmnist):
    from explorer.data import salt_and_pepper

    clean = fmnist.test.images[:50] / 255.0
    noisy = salt_and_pepper(clean, 0.2, np.random.default_rng(0))
    p_noisy = psnr_per_image(noisy, clean).mean()
    p_med = psnr_per_image(median3(noisy), clean).mean()
    p_amf = psnr_per_image(adaptive_median(noisy), clean).mean()
    assert p_noisy < p_med < p_amf
    single = np.full((1, 28, 28), 0.5)
    single[0, 10, 10] = 1.0
    assert np.allclose(adaptive_median(single), 0.5) and np.allclose(median3(single), 0.5)


def test_sparsity_and_entropy():
    codes = np.array([[0.0, 0.5], [0.01, 0.9], [0.2, 0.04]])
    assert code_sparsity(codes) == pytest.approx(3 / 6)
    assert code_entropy_bytes(np.zeros((100, 10)), lo=np.zeros(10), hi=np.ones(10)) == 0.0
    rng = np.random.default_rng(0)
    uniform = rng.integers(0, 256, size=(200000, 2)) / 255.0
    assert code_entropy_bytes(uniform, lo=np.zeros(2), hi=np.ones(2)) == pytest.approx(2.0, abs=0.01)
    assert quantise(np.array([[0.0, 1.0, 0.5]]), 2, np.zeros(3), np.ones(3)).tolist() == [[0, 3, 2]]


def test_knn_and_precision_at_k():
    codes = np.array([[0.0], [0.1], [0.25], [5.0], [5.2], [5.3]])
    idx, dist = knn(codes, codes[0], 2, exclude=0)
    assert idx.tolist() == [1, 2] and np.allclose(dist, [0.1, 0.25])
    idx, _ = knn(codes, codes[[3, 0]], 1, exclude=[3, 0])
    assert idx[:, 0].tolist() == [4, 1]
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert precision_at_k(codes, labels, k=2) == 1.0
    assert precision_at_k(codes, np.array([0, 1, 0, 1, 0, 1]), k=1) < 0.5
    with pytest.raises(ValueError, match="k == 6"):
        knn(codes, codes[0], 6)


def test_prepared_search_codes_give_the_same_neighbours_as_raw_codes():
    """``SearchCodes`` (float64 rows and norms kept with a map) answer as the raw float32 codes do, for one query and
    several, with a row excluded; on a real map's codes (the denoiser's 256 numbers, the widest)."""
    from explorer import projection

    codes = projection.load_projection("denoising", "test").codes
    prepared = search_codes(codes)
    assert len(prepared) == len(codes)
    for query, exclude in ((codes[7], 7), (codes[[3, 9, 4000]], [3, 9, 4000]), (codes[5] + 0.01, None)):
        raw_idx, raw_dist = knn(codes, query, 10, exclude=exclude)
        idx, dist = knn(prepared, query, 10, exclude=exclude)
        np.testing.assert_array_equal(idx, raw_idx)
        np.testing.assert_allclose(dist, raw_dist, rtol=1e-9, atol=1e-9)
    queries = {"raw": codes[11], "prepared": codes[11]}
    both = neighbours_all({"raw": codes, "prepared": prepared}, queries, 8, exclude=11)
    np.testing.assert_array_equal(both["raw"].idx, both["prepared"].idx)
