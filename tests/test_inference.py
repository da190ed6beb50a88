"""The one batched-inference module: input conversion, batching, clipping, and agreement with a plain forward pass."""

import numpy as np
import pytest
import torch

from explorer import inference
from explorer.models import REGISTRY, VARIANTS, variants_with
from tests.support.tiny import TINY


def _tiny(name):
    torch.manual_seed(0)
    return REGISTRY[name].build(TINY[name]).eval()


@pytest.mark.parametrize(
    "shape",
    [(28, 28), (5, 28, 28), (5, 1, 28, 28), (5, 784)],
    ids=["one image", "batch", "channels", "flattened"],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_as_batch_takes_every_layout(shape, dtype):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, shape).astype(dtype)
    if dtype == np.float32:
        a /= 255.0
    x = inference.as_batch(a)
    assert x.dtype == torch.float32 and tuple(x.shape[1:]) == (1, 28, 28)
    assert len(x) == (1 if shape == (28, 28) else 5)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    expected = a.astype(np.float32) / 255.0 if dtype == np.uint8 else a
    np.testing.assert_allclose(x.numpy().reshape(-1), expected.reshape(-1), rtol=0, atol=1e-7)


@pytest.mark.parametrize("shape", [(28, 27), (3, 2, 28, 28), (4, 100)])
def test_as_batch_rejects_other_shapes_with_the_expected_one(shape):
    with pytest.raises(ValueError, match=r"the model takes \[N, 1, 28, 28\]"):
        inference.as_batch(np.zeros(shape, np.float32))


@pytest.mark.parametrize("name", VARIANTS)
def test_batched_encode_matches_one_forward_pass(name, small_batch):
    x, _ = small_batch
    model = _tiny(name)
    with torch.no_grad():
        expected = model.encode(x).flatten(1).numpy()
    got = inference.encode(model, x.numpy(), batch_size=7)  # batches that do not divide 64
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", variants_with("decoder"))
def test_decode_and_error_are_clipped_and_consistent(name, small_batch):
    x, _ = small_batch
    model = _tiny(name)
    codes, mse = inference.encode_with_error(model, x, batch_size=10)
    images = inference.decode(model, codes, batch_size=9)
    assert images.shape == (64, 28, 28) and images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_allclose(mse, ((images - x[:, 0].numpy()) ** 2).mean((1, 2)), rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match=r"the model decodes \[N, "):
        inference.decode(model, np.zeros((2, model.code_dim + 1), np.float32))


@pytest.mark.parametrize("name", VARIANTS)
def test_reconstruct_is_clipped_and_empty_input_is_empty(name, small_batch):
    x, _ = small_batch
    model = _tiny(name)
    out = inference.reconstruct(model, (x.numpy() * 255).astype(np.uint8))
    assert out.shape == (64, 28, 28) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert inference.reconstruct(model, np.zeros((0, 28, 28), np.uint8)).shape == (0, 28, 28)


def test_batch_size_is_checked():
    with pytest.raises(ValueError, match="batch_size == 0, must be a positive integer"):
        inference.batched(lambda b: b, torch.zeros(3, 1), batch_size=0)


def test_capabilities_are_declared_and_asked_by_name():
    assert variants_with("generative") == ("vae",)
    assert set(variants_with("denoiser")) == {"denoising", "unet"}
    assert "unet" not in variants_with("decoder")  # its output needs the skip features
    with pytest.raises(ValueError, match="capability == 'decodes', must be one of"):
        REGISTRY["dense"].can("decodes")


def test_a_large_uint8_split_is_converted_one_batch_at_a_time(fmnist):
    """Encoding 10,000 uint8 images never holds them all as float32 (31 MB): numpy's peak stays near one batch."""
    import tracemalloc

    import torch

    from explorer.inference import as_batch, encode
    from explorer.models import DenseConfig, get_variant

    torch.manual_seed(0)
    model = get_variant("dense").build(DenseConfig(hidden=(32,))).eval()
    images = fmnist.test.images
    tracemalloc.start()
    codes = encode(model, images)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 15e6, peak / 1e6
    whole = model.encode(as_batch(images)).detach().numpy()
    assert codes == pytest.approx(whole, abs=1e-5)
