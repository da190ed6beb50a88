import numpy as np
import pytest
import torch

from explorer import codec as cd
from explorer import inference
from explorer.commands import compress as cz
from explorer.metrics import code_entropy_bytes
from explorer.models import DenseConfig, get_variant


@pytest.fixture(scope="module")
def pca_codes(fmnist):
    """PCA-10 codes of 3,000 real train images and 300 real test images (cheap, real codes)."""
    from sklearn.decomposition import PCA

    tr = fmnist.train.images[:3000].reshape(3000, -1) / 255.0
    te = fmnist.test.images[:300].reshape(300, -1) / 255.0
    pca = PCA(10, random_state=0).fit(tr)
    return pca.transform(tr), pca.transform(te), pca


@pytest.fixture(scope="module")
def tiny_dense():
    torch.manual_seed(0)
    return get_variant("dense").build(DenseConfig(hidden=(32,))).eval()


@pytest.mark.parametrize("bits", [2, 4, 6, 8])
def test_coder_round_trip_is_exact_on_real_codes(pca_codes, bits):
    train, test, _ = pca_codes
    codec = cd.Codec.fit(train, bits)
    symbols = codec.quantiser.symbols(test)
    for s in symbols:
        assert np.array_equal(codec.decode_symbols(codec.encode_symbols(s)), s)


def test_unseen_symbols_are_encodable(pca_codes):
    train, _, _ = pca_codes
    codec = cd.Codec.fit(train, 8)
    unseen = np.argwhere(codec.counts == 0)
    assert len(unseen) > 0  # 3,000 images leave many of the 256 levels empty
    rng = np.random.default_rng(0)
    for _ in range(200):  # uniform random streams: mostly symbols the train split never produced
        s = rng.integers(0, 256, codec.dim)
        s[unseen[0][0]] = unseen[0][1]
        message = codec.encode_symbols(s)
        assert np.array_equal(codec.decode_symbols(message), s)
        assert len(message) > 10  # improbable symbols cost more than the raw 8 bits each


def test_byte_counts_are_what_is_produced_and_near_the_entropy(pca_codes):
    train, test, pca = pca_codes
    codec = cd.Codec.fit(train, 6)
    symbols = codec.quantiser.symbols(test)
    messages = [codec.encode_symbols(s) for s in symbols]
    for m in messages:
        n, used = cd.read_varint(m)
        assert used == 1 and len(m) == 1 + n  # the length header is part of every message
    decode = lambda z: pca.inverse_transform(z).reshape(-1, 28, 28)
    row = cz.code_rows("PCA-10", "pca", codec, test, decode, np.zeros((len(test), 28, 28), np.uint8))
    assert row["bytes"] == pytest.approx(np.mean([len(m) for m in messages]))
    assert row["bytes_max"] == max(len(m) for m in messages)
    # the tail cut keeps a message within ~1 byte (+ the header) of its information content
    ideal = codec.entropy_bytes(symbols)
    sizes = np.array([len(m) for m in messages])
    assert (sizes <= ideal + 2 + 1e-9).all()
    assert sizes.mean() < ideal.mean() + 1.6


def test_messages_are_validated(pca_codes):
    train, test, _ = pca_codes
    codec = cd.Codec.fit(train, 4)
    m = codec.encode_symbols(codec.quantiser.symbols(test[0]))
    with pytest.raises(ValueError, match="header announces"):
        codec.decode_symbols(m + b"\0")
    with pytest.raises(ValueError, match="header announces"):
        codec.decode_symbols(m[:-1])
    with pytest.raises(ValueError, match="no complete length header"):
        codec.decode_symbols(b"\x80\x80")
    with pytest.raises(TypeError, match="must be bytes"):
        codec.decode_symbols("00")
    with pytest.raises(ValueError, match=r"must lie in \[0, 16\)"):
        codec.encode_symbols(np.full(10, 16))
    with pytest.raises(ValueError, match="need 10 integers"):
        codec.encode_symbols(np.zeros(9, dtype=int))


def test_quantiser_ranges_come_from_train(pca_codes):
    train, test, _ = pca_codes
    q = cd.Quantiser.fit(train, 4)
    assert np.array_equal(q.lo, train.min(0)) and np.array_equal(q.hi, train.max(0))
    s = q.symbols(train)
    assert s.min() == 0 and s.max() == 15
    assert np.array_equal(q.symbols(q.lo[None] - 100.0)[0], np.zeros(10))  # clipped, not wrapped
    err = np.abs(q.values(q.symbols(test)) - np.clip(test, q.lo, q.hi))
    assert (err <= (q.hi - q.lo) / 15 + 1e-6).all()  # each value stays within one step of the code
    assert q.values(s[0]).shape == (10,)
    with pytest.raises(ValueError, match="bits == 0"):
        cd.Quantiser.fit(train, 0)
    with pytest.raises(ValueError, match="fitted on 10"):
        q.symbols(np.zeros((1, 3)))


def test_one_quantiser_for_the_codec_and_the_entropy_measure(pca_codes):
    """metrics.code_entropy_bytes quantises as the codec does: its entropy is that of the codec's train counts."""
    train, _, _ = pca_codes
    codec = cd.Codec.fit(train, 6)
    assert np.array_equal(codec.quantiser.symbols(train), cd.quantise(train, 6, train.min(0), train.max(0)))
    p = codec.counts / codec.counts.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        bits = -np.nansum(np.where(p > 0, p * np.log2(p), 0.0))
    assert code_entropy_bytes(train, 6) == pytest.approx(bits / 8, rel=1e-12)


def test_tables_survive_serialisation(pca_codes):
    import json

    train, test, _ = pca_codes
    codec = cd.Codec.fit(train, 6)
    again = cd.Codec.from_dict(json.loads(json.dumps(codec.to_dict())))
    for s in codec.quantiser.symbols(test[:50]):
        assert codec.encode_symbols(s) == again.encode_symbols(s)
    assert np.allclose(again.quantiser.centres, codec.quantiser.centres, atol=1e-6)


def test_image_to_bytes_and_back(fmnist, tiny_dense):
    codec = cd.Codec.fit(inference.encode(tiny_dense, fmnist.train.images[:2000]), 8)
    img = fmnist.test.images[7]
    message = cd.encode_image(tiny_dense, codec, img)
    assert isinstance(message, bytes) and len(message) == 1 + message[0]
    received = cd.decode_bytes(tiny_dense, codec, message)
    expected = inference.decode(
        tiny_dense, codec.quantiser.values(codec.quantiser.symbols(inference.encode(tiny_dense, img)))
    )
    assert received.shape == (28, 28) and np.array_equal(received, expected[0])
    with pytest.raises(ValueError, match=r"images of shape \(14, 14\): the model takes"):
        cd.encode_image(tiny_dense, codec, np.zeros((14, 14), np.uint8))


def test_transmit_sends_the_message_and_the_nearest_classical_files(fmnist, tiny_dense):
    codec = cd.Codec.fit(inference.encode(tiny_dense, fmnist.train.images[:2000]), 6)
    img = fmnist.test.images[7]
    sent = cd.transmit(tiny_dense, codec, img)
    assert sent["message"] == cd.encode_image(tiny_dense, codec, img)
    assert (sent["payload"], sent["header"]) == cd.read_varint(sent["message"])
    assert np.array_equal(sent["received"], cd.decode_bytes(tiny_dense, codec, sent["message"]))
    assert [n["format"] for n in sent["classical"]] == ["webp", "jpeg"]
    for near in sent["classical"]:
        assert near["bytes"] == cd.nearest_classical(img, len(sent["message"]), near["format"])["bytes"]
        assert 5.0 < near["psnr"] < 100.0


def test_classical_codecs_count_their_file_bytes(fmnist):
    img = fmnist.test.images[3]
    png = cd.pil_encode(img, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and np.array_equal(cd.pil_decode(png), img)  # lossless
    small, big = cd.pil_encode(img, "jpeg", 1), cd.pil_encode(img, "jpeg", 95)
    assert len(small) < len(big)
    near = cd.nearest_classical(img, 150, "webp")
    sizes = {q: len(cd.pil_encode(img, "webp", q)) for q in cd.WEBP_QUALITIES}
    assert near["bytes"] == sizes[near["quality"]] == len(near["data"])
    assert abs(near["bytes"] - 150) == min(abs(b - 150) for b in sizes.values())
    rows = cz.classical_rows(fmnist.test.images[:20])
    png_row = next(r for r in rows if r["family"] == "png")
    assert png_row["psnr"] == 100.0
    assert png_row["bytes"] == pytest.approx(np.mean([len(cd.pil_encode(i, "png")) for i in fmnist.test.images[:20]]))
    with pytest.raises(ValueError, match="fmt == 'gif'"):
        cd.pil_encode(img, "gif")


def test_sparse_savings_interpolate_dense_curve():
    rows = [
        {"method": "dense", "family": "autoencoder", "bits": 4, "bytes": 4.0, "psnr": 17.0},
        {"method": "dense", "family": "autoencoder", "bits": 6, "bytes": 6.0, "psnr": 19.0},
        {"method": "dense", "family": "autoencoder", "bits": 8, "bytes": 8.0, "psnr": 20.0},
        {"method": "sparse", "family": "autoencoder", "bits": 8, "bytes": 5.0, "psnr": 19.5},
        {"method": "sparse", "family": "autoencoder", "bits": 6, "bytes": 4.0, "psnr": 21.0},
    ]
    assert cz.dense_bytes_at(rows, 18.0) == pytest.approx(5.0)
    s8, s6 = cz.sparse_savings(rows)
    assert s8["dense_bytes_same_psnr"] == pytest.approx(7.0) and s8["saved_same_psnr"] == pytest.approx(2.0)
    assert s8["dense_bytes_same_bits"] == 8.0
    assert s6["saved_same_psnr"] is None and "never reaches" in s6["note"]
    bar = cz.check_bar(rows)
    assert bar["met"] and bar["best"]["method"] == "sparse" and bar["best"]["bits"] == 6
    assert cz.smallest_classical(rows) is None
    jpeg = [
        {"method": f"JPEG q{q}", "family": "jpeg", "quality": q, "bytes": b, "psnr": 20.0}
        for q, b in ((1, 160), (5, 150))
    ]
    assert cz.smallest_classical(rows + jpeg)["quality"] == 5


def test_rd_figure_draws_a_curve_per_method_and_the_bar():
    from explorer.figures import FAMILY_STYLE, rd_figure

    rows = [
        {"method": "dense", "family": "autoencoder", "bits": b, "bytes": float(b), "psnr": 15.0 + b} for b in (4, 6, 8)
    ] + [
        {"method": "sparse", "family": "autoencoder", "bits": 6, "bytes": 5.0, "psnr": 20.0},
        {"method": "PNG", "family": "png", "quality": None, "bytes": 300.0, "psnr": 100.0},
        {"method": "JPEG q5", "family": "jpeg", "quality": 5, "bytes": 150.0, "psnr": 22.0},
    ]
    fig = rd_figure(rows)
    traces = {t.name: t for t in fig.data}
    assert set(traces) == {"dense", "sparse", "JPEG (optimised)"}  # PNG is a vertical line, not a curve
    assert list(traces["dense"].x) == [4.0, 6.0, 8.0] and traces["dense"].line.color == FAMILY_STYLE["dense"]
    assert any("sparse 6 bit saves" in a.text for a in fig.layout.annotations)  # dense needs 5.5 B for 20 dB


def test_varint():
    for n in (0, 1, 127, 128, 300, 70_000):
        b = cd.write_varint(n)
        assert cd.read_varint(b + b"tail") == (n, len(b))
    assert len(cd.write_varint(127)) == 1 and len(cd.write_varint(128)) == 2


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """The real compress command on a tiny dense checkpoint (30 test images, tables from 1,000 train images)."""
    from explorer.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("ck")
    torch.manual_seed(0)
    save_checkpoint(get_variant("dense").build(DenseConfig(hidden=(32,))), "dense", root)
    return root, cz.run_compression(["dense"], root=root, limit=30, train_limit=1000)


def test_compress_command_stores_what_it_measured(tiny_root, fmnist):
    from explorer.checkpoint import load_model, save_checkpoint

    root, result = tiny_root
    data = cz.load_compression(root)
    assert data["rows"] == result["rows"] and data["images"] == 30
    dense = {r["bits"]: r for r in data["rows"] if r["method"] == "dense"}
    assert sorted(dense) == [2, 3, 4, 5, 6, 7, 8]
    assert {r["method"] for r in data["rows"] if r["family"] == "pca"} == {"PCA-10", "PCA-32"}
    model = load_model("dense", root)
    codec = cz.load_codec(data, "dense", 6, root)
    sizes = [len(cd.encode_image(model, codec, img)) for img in fmnist.test.images[:30]]
    assert dense[6]["bytes"] == pytest.approx(np.mean(sizes))  # the stored tables reproduce the measured bytes
    save_checkpoint(get_variant("dense").build(DenseConfig(hidden=(32,))), "dense", root / "other")
    with pytest.raises(cz.CompressionError, match="other weights.*python -m explorer compress"):
        cz.load_codec(data, "dense", 6, root / "other")
    with pytest.raises(cz.CompressionError, match="no stored coder table for dense at 3 bits"):
        cz.load_codec(data, "dense", 3, root)


def test_compression_page_renders_and_sends_bytes(tiny_root, monkeypatch):
    from streamlit.testing.v1 import AppTest

    def app():
        from explorer.ui.compression_page import page

        page()

    monkeypatch.setenv("LATENT_EXPLORER_CHECKPOINTS", str(tiny_root[0]))
    at = AppTest.from_function(app, default_timeout=60).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1 and at.warning  # a random tiny model does not meet the bar
    hex_before = at.code[0].value
    at.radio(key="cz_bits").set_value(4).run()
    assert not at.exception and at.code[0].value != hex_before
    assert len(bytes.fromhex(at.code[0].value)) == bytes.fromhex(at.code[0].value)[0] + 1


def test_compression_page_without_table(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    def app():
        from explorer.ui.compression_page import page

        page()

    monkeypatch.setenv("LATENT_EXPLORER_CHECKPOINTS", str(tmp_path))
    at = AppTest.from_function(app, default_timeout=60).run()
    assert not at.exception and "python -m explorer compress" in at.code[0].value


def test_the_savings_table_shows_a_dash_where_dense_has_no_comparable_point():
    """Issue 14 (seen at the demo): an empty cell of the sparse-savings table read "None"."""
    from explorer.ui.compression_page import SAVINGS_COLUMNS, savings_frame

    rows = [
        {"method": "dense", "bits": 6, "bytes": 7.0, "psnr": 19.0},
        {"method": "dense", "bits": 8, "bytes": 9.0, "psnr": 20.0},
        {"method": "sparse", "bits": 6, "bytes": 5.0, "psnr": 19.5},
        {"method": "sparse", "bits": 4, "bytes": 3.0, "psnr": 25.0},  # beyond dense's best: nothing to compare
    ]
    frame = savings_frame(cz.sparse_savings(rows))
    assert list(frame.columns) == [title for title, _ in SAVINGS_COLUMNS.values()]
    cells = frame.to_numpy().ravel().tolist()
    assert "None" not in cells and "nan" not in cells and "—" in cells
    assert frame.iloc[0].tolist()[:3] == ["6", "5.00", "19.50"]
    assert frame.iloc[0]["saved B"] == "+3.00"  # dense needs 8 B at 19.5 dB
