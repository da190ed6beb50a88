"""The Streamlit dashboard, run headless with AppTest on the real data and the checkpoints in the default root.

Each test starts at ``dashboard.py`` (the router) and moves to a page by the URL path the router registered it
under (``tests.support.pages.switch_page``); the pages are the router's own list. The repository ships the
checkpoints and maps these tests use: a missing one is a failure. AppTest cannot click a Plotly point: the map's
selection handling is tested in test_views.py, and here through the panel function the page calls.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import dashboard
from explorer.checkpoint import ENV_VAR, default_root
from explorer.data import CLASS_NAMES
from explorer.models import VARIANTS, variants_with
from tests.support.imports import imported_packages
from tests.support.map_data import map_data
from tests.support.map_data import points as map_points
from tests.support.pages import open_link, switch_page

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "dashboard.py")
PAGES = [url_path for *_, url_path in dashboard.PAGES]  # the router's pages, in its order (the first is the default)
TUTORIAL = ("dense", "sparse", "denoising", "vae")


def open_page(page: str = "map", live: bool = False) -> AppTest:
    """The app on ``page``. The generator's live mode decodes in the browser, which AppTest has not got: the
    server-side sliders (the same page with the toggle off) are what these tests drive; tests/test_browser.py
    and tests/test_live_decoder_browser.py drive the live one."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["live_decode"] = live
    at.run()
    if page != PAGES[0]:
        switch_page(at, page).run()
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def spec(at: AppTest, key: str) -> dict:
    """The JSON figure of the Plotly chart whose element id carries ``key``."""
    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key)]
    assert charts, f"no plotly chart with key {key!r}"
    return json.loads(charts[0].proto.spec)


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def image_captions(at: AppTest) -> list[str]:
    return [caption for el in at.get("image") for caption in el.captions]


# ------------------------------------------------------------------------------------------ pages


def test_the_shipped_checkpoints_maps_and_metrics_are_there():
    """The repository ships them; the page tests below rely on them (a missing one is a failure, never a skip)."""
    root = default_root()
    need = [f"{v}/{f}" for v in VARIANTS for f in ("config.json", "model.safetensors", "metrics.json")]
    need += [f"{v}/projection-{split}.npz" for v in variants_with("decoder") for split in ("test", "all")]
    need += ["baselines.json", "generation.json", "judge/model.safetensors"]
    assert not [p for p in need if not (root / p).is_file()], f"missing under {root}"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_from_the_navigation_and_from_a_link(page):
    at = open_page(page)
    assert_clean(at)
    title = at.title[0].value
    assert title
    linked = open_link({"page": page})  # /?page=…: the router switches to the page object it registered
    assert_clean(linked)
    assert linked.title[0].value == title


PAGE_MODULES = sorted({module for module, *_ in dashboard.PAGES} | {"explorer.ui.generation_sections"})


@pytest.mark.parametrize("module", PAGE_MODULES)
def test_pages_lay_out_and_never_import_torch(module):
    """Pages call explorer's functions; none runs a model itself (wherever the import would be, even in a function)."""
    path = REPO / (module.replace(".", "/") + ".py")
    assert "torch" not in imported_packages(path), path


def test_latent_map_page():
    at = open_page("map")
    assert_clean(at)
    assert at.title[0].value == "Latent map"
    assert at.selectbox(key="variant").value == "dense"
    assert at.toggle(key="map_all").value is False
    data = map_data(at)
    assert data["class_names"] == list(CLASS_NAMES) and data["modes"] == ["class", "error", "cluster"]
    cols = map_points(data["points"])  # sent once, as binary columns
    assert data["points"]["n"] == 10_000 and cols["xy"].shape == (10_000, 2) and cols["error"] is not None
    assert data["atlas"]["tiles"] == 10 and data["atlas"]["has_recon"]
    assert "Click a point" in texts(at.info)

    at.selectbox(key="variant").set_value("vae").run()
    assert_clean(at)
    assert "Variational autoencoder" in texts(at.caption)
    assert map_data(at)["hash"] != data["hash"] and map_data(at)["points"] is not None  # a new map: its points
    at.run()
    assert map_data(at)["points"] is None  # the browser holds them: later runs send the hash only

    at.toggle(key="map_all").set_value(True).run()  # the shipped 70k map
    assert_clean(at)
    assert map_data(at)["points"]["n"] == 70_000


def test_all_70k_map(tmp_path, monkeypatch, fmnist):
    """The 70k map (made here from the dense test map: UMAP on 70k points is a long offline job)."""
    from explorer.checkpoint import weights_hash

    root = tmp_path / "checkpoints"
    shutil.copytree(default_root() / "dense", root / "dense", ignore=shutil.ignore_patterns("projection-all.npz"))
    rng = np.random.default_rng(0)
    labels = np.concatenate([fmnist.test.labels, fmnist.train.labels]).astype(np.uint8)  # item-id order
    np.savez_compressed(
        root / "dense" / "projection-all.npz",
        weights_sha256=np.array(weights_hash("dense", root)),
        labels=labels,
        coords=rng.normal(size=(70_000, 2)).astype(np.float32),
        recon_mse=rng.random(70_000).astype(np.float32),
    )
    monkeypatch.setenv(ENV_VAR, str(root))
    at = open_page("map")
    at.toggle(key="map_all").set_value(True).run()
    assert not at.exception and not at.info[1:]  # only the "click a point" hint
    cols = map_points(map_data(at)["points"])
    assert len(cols["xy"]) == 70_000  # every image once, its row index its item id
    all_labels = np.concatenate([fmnist.test.labels, fmnist.train.labels])  # in item-id order
    assert (cols["label"] == all_labels).all()


def _panel_script(ids):
    from explorer.selection import display_order
    from explorer.ui import common, latent_map

    model = common.require_model("dense")
    latent_map.show_panel(model, common.items(), ids, display_order(ids, 30), ", a test")


def test_map_selection_panel():
    at = AppTest.from_function(_panel_script, args=([3, 1, 4, 10_005],), default_timeout=60).run()
    assert not at.exception
    assert at.subheader[0].value == "4 items selected"
    assert "Showing all 4, a test" in texts(at.caption)
    assert len(at.get("image")) == 1  # one mosaic, not one image per item

    at = AppTest.from_function(_panel_script, args=([10_005],), default_timeout=60).run()
    assert at.subheader[0].value.startswith("Item 10005: ")
    assert "training image" in image_captions(at)[0]


def test_similar_items_page(fmnist):
    at = open_page("similar")
    assert_clean(at)
    for key in ("variant", "query_class"):
        assert at.selectbox(key=key)
    assert at.slider(key="k").value == 10 and at.number_input(key="item_index").value == 0
    table = at.dataframe[0].value
    assert table["model"].iloc[0] == "Dense autoencoder" and len(table) >= len(TUTORIAL)  # every mapped model
    assert table.loc[0, "shared with dense"] == "10 / 10"  # the chosen model agrees with itself

    at.slider(key="k").set_value(5).run()
    assert all(s.endswith("/ 5") for s in at.dataframe[0].value["same class"])
    at.number_input(key="item_index").set_value(123).run()
    assert_clean(at)
    assert "Query: item 123" in image_captions(at)[0]

    at.button(key="random_item").click().run()  # a random item of the chosen class (Sneaker)
    item = at.number_input(key="item_index").value
    assert item != 123 and fmnist.test.labels[item] == CLASS_NAMES.index("Sneaker")

    at.session_state["map_selection"] = [42, 10_042]  # what the map page keeps of a selection
    at.run()
    assert_clean(at)
    assert at.number_input(key="item_index").value == 42
    options = [f"item 42: {CLASS_NAMES[fmnist.test.labels[42]]}", f"item 10042: {CLASS_NAMES[fmnist.train.labels[42]]}"]
    assert at.selectbox(key="selection_item").options == options
    at.selectbox(key="selection_item").set_value(10_042).run()
    assert_clean(at)
    assert at.number_input(key="item_index").value == 10_042  # a training image as the query


def _scores(at):
    return at.dataframe[0].value.to_numpy(dtype=float)


def test_denoiser_page():
    at = open_page("denoiser")
    assert_clean(at)
    assert at.slider(key="noise_amount").value == pytest.approx(0.2)
    before = _scores(at)
    assert before.shape == (8, 10) and np.isfinite(before).all()
    # Both denoisers beside the median, the better one (the U-Net, by its stored score) first
    headings = [m.value for m in at.markdown if m.value.startswith("**")]
    assert headings[:3] == ["**U-Net denoiser**", "**Denoising conv autoencoder**", "**3×3 median filter**"]
    assert [m.label for m in at.metric] == ["PSNR", "SSIM"] * 3
    assert at.query_params["variant"] == "unet"

    at.slider(key="noise_amount").set_value(0.4).run()
    heavier = _scores(at)
    assert heavier[0].mean() < before[0].mean()  # noisier input, lower PSNR
    at.button(key="new_noise").click().run()
    assert_clean(at)
    redrawn = _scores(at)
    assert not np.array_equal(redrawn, heavier) and at.slider(key="noise_amount").value == pytest.approx(0.4)


def test_generator_page():
    at = open_page("generator")
    assert_clean(at)
    assert at.selectbox(key="variant").value == "vae"
    for key in ("random_sample", "reset", "from_item"):
        assert at.button(key=key)
    for key in ("from_item_index", "interp_a", "interp_b"):
        assert at.number_input(key=key)
    assert at.slider(key="interp_steps").value == 10
    opening = [at.slider(key=f"z{i}").value for i in range(10)]
    assert opening != [0.0] * 10  # an item's code, not the grey blob (tests/test_demo_generator.py: which)
    origin = at.session_state["generated"].copy()
    assert origin.shape == (28, 28) and origin.dtype == np.uint8
    assert {t["name"] for t in spec(at, "generator_map")["data"]} >= {"generated", "interpolation"}

    at.slider(key="z0").set_value(2.5).run()
    assert_clean(at)
    assert not np.array_equal(at.session_state["generated"], origin)  # the slider moves the image

    at.button(key="reset").click().run()
    assert [at.slider(key=f"z{i}").value for i in range(10)] == opening
    assert np.array_equal(at.session_state["generated"], origin)

    at.button(key="random_sample").click().run()
    assert any(at.slider(key=f"z{i}").value != 0 for i in range(10))


def test_generator_live_mode_renders_with_the_judge():
    at = open_page("generator", live=True)
    assert_clean(at)
    assert at.toggle(key="live_decode").value is True
    assert not [s for s in at.slider if s.key and s.key.startswith("z")]  # the browser draws the latent sliders
    assert at.session_state["generated"].shape == (28, 28)
    at.button(key="random_sample").click().run()
    assert_clean(at)
    assert any(at.session_state[f"z{i}"] != 0 for i in range(10))
    at.toggle(key="live_decode").set_value(False).run()
    assert [at.slider(key=f"z{i}").value for i in range(10)] == [at.session_state[f"z{i}"] for i in range(10)]


def test_generator_starts_from_a_real_item(fmnist):
    from explorer import load_model
    from explorer.inference import encode

    at = open_page("generator")
    at.number_input(key="from_item_index").set_value(7).run()
    at.button(key="from_item").click().run()
    assert_clean(at)
    mu = encode(load_model("vae"), fmnist.test.images[7])[0]  # the VAE's posterior mean
    z = np.array([at.slider(key=f"z{i}").value for i in range(10)])
    assert np.allclose(z, np.clip(mu, -3, 3), atol=0.006)  # sliders hold μ rounded to 2 decimals

    at.slider(key="interp_steps").set_value(12).run()
    at.number_input(key="interp_a").set_value(3).run()
    assert_clean(at)
    path = [t for t in spec(at, "generator_map")["data"] if t["name"] == "interpolation"][0]
    assert len(path["x"]) == 12

    switch_page(at, "map").run()
    switch_page(at, "generator").run()
    assert np.allclose([at.slider(key=f"z{i}").value for i in range(10)], z)  # kept across pages


def test_compare_page():
    from explorer.models import REGISTRY

    at = open_page("compare")
    assert_clean(at)
    assert set(at.multiselect(key="compare_runs").value) == set(VARIANTS)  # the shipped study, until one picks
    # The shipped metrics describe the shipped weights: every variant's row and the baselines, nothing missing.
    assert "Scores missing" not in texts(at.info)
    table = at.dataframe[0].value
    assert {REGISTRY[v].title for v in VARIANTS} | {"PCA, 10 components", "3×3 median filter"} <= set(table.index)
    assert table.loc["Dense autoencoder", "PSNR"] != "–"
    curves = spec(at, "curves")
    assert {t["name"] for t in curves["data"] if t.get("showlegend")} >= {REGISTRY[v].title for v in TUTORIAL}
    assert len(at.get("image")) == 1  # every variant's reconstructions in one grid


# ------------------------------------------------------------------------------------- robustness


@pytest.fixture
def damaged_root(tmp_path, monkeypatch):
    """A copy of the checkpoints with dense's weights corrupted and vae's map damaged."""
    root = tmp_path / "checkpoints"
    for name in VARIANTS:
        if (default_root() / name).is_dir():
            shutil.copytree(default_root() / name, root / name, ignore=shutil.ignore_patterns("projection-all.npz"))
    if (default_root() / "baselines.json").is_file():
        shutil.copy(default_root() / "baselines.json", root / "baselines.json")
    (root / "dense" / "model.safetensors").write_bytes(b"\x00\x01 not a safetensors file")
    (root / "vae" / "projection-test.npz").write_bytes(b"PK\x03\x04 truncated")  # damaged: not recomputed
    monkeypatch.setenv(ENV_VAR, str(root))
    return root


def test_damaged_checkpoint_leaves_the_rest_working(damaged_root):
    at = open_page("map")  # dense is the default variant: it is shown as unavailable, with the fix
    assert not at.exception
    assert "Dense autoencoder" in texts(at.error) and "not a readable safetensors file" in texts(at.error)
    assert "python -m explorer train --variant dense" in texts(at.code)
    assert "Dense autoencoder (unavailable)" in texts(at.sidebar.caption)

    at.selectbox(key="variant").set_value("sparse").run()
    assert_clean(at)
    assert map_data(at)["points"]["n"] > 0

    switch_page(at, "similar").run()  # sparse is remembered; dense is left out of the comparison
    assert_clean(at)
    assert at.selectbox(key="variant").value == "sparse"
    assert "Not compared: Dense autoencoder" in texts(at.caption)

    switch_page(at, "generator").run()  # the VAE works; its damaged map names its command
    assert_clean(at)
    assert "python -m explorer project --variant vae" in texts(at.code)

    for page in ("denoiser", "compare"):
        switch_page(at, page).run()
        assert_clean(at)
    assert "python -m explorer train --variant dense" in texts(at.caption)


def test_missing_dataset_explains_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))  # an empty directory
    at = open_page("map")
    assert not at.exception
    assert at.title[0].value == "Fashion-MNIST is not installed"
    assert "apt-get install dataset-fashion-mnist" in texts(at.markdown)
    assert "FASHION_MNIST_DIR" in texts(at.markdown)
    switch_page(at, "generator").run()
    assert not at.exception and at.title[0].value == "Fashion-MNIST is not installed"


# ------------------------------------------------------------------------------ shareable links

TITLES = {"map": "Latent map", "similar": "Similar items", "denoiser": "Denoiser", "generator": "Generator"}


def test_a_link_opens_its_page_with_its_view():
    at = open_link({"page": "similar", "variant": "vae", "item": "12345", "k": "7"})
    assert_clean(at)
    assert at.title[0].value == "Similar items" and not at.toast
    assert at.selectbox(key="variant").value == "vae"
    assert at.number_input(key="item_index").value == 12_345 and at.slider(key="k").value == 7
    assert "Query: item 12345" in image_captions(at)[0]
    at.slider(key="k").set_value(12).run()  # the URL follows the widgets
    assert (at.query_params["page"], at.query_params["variant"], at.query_params["k"]) == ("similar", "vae", "12")
    switch_page(at, "map").run()  # the link opens its page once: the visitor then goes where they like
    assert_clean(at)
    assert at.title[0].value == "Latent map" and at.query_params["page"] == "map"

    at = open_link({"variant": "sparse"})  # no page: the map, the default page
    assert_clean(at)
    assert at.title[0].value == "Latent map" and at.selectbox(key="variant").value == "sparse"


def test_a_link_restores_the_denoiser_and_its_noise(fmnist):
    from explorer import load_model
    from explorer.denoise import denoise
    from explorer.neighbours import sample_per_class

    at = open_link({"page": "denoiser", "noise": "0.35", "seed": "3"})
    assert_clean(at)
    assert at.slider(key="noise_amount").value == pytest.approx(0.35)
    ids = sample_per_class(fmnist.test.labels, per_class=1, seed=0)
    expected = denoise(load_model("unet"), fmnist.test.images[ids], 0.35, seed=3)  # the link's noise, exactly
    assert at.metric[0].value == f"{expected.psnr_model.mean():.2f} dB"


def test_a_shared_generator_link_shows_the_same_image():
    at = open_page("generator")
    at.button(key="random_sample").click().run()
    z = [at.slider(key=f"z{i}").value for i in range(10)]
    shared = {key: at.query_params[key] for key in ("page", "variant", "z")}
    assert shared["page"] == "generator" and [float(v) for v in shared["z"].split(",")] == z

    other = open_link(shared)  # another browser opens the link
    assert_clean(other)
    assert [other.slider(key=f"z{i}").value for i in range(10)] == z
    assert np.array_equal(other.session_state["generated"], at.session_state["generated"])
    assert "download_generated" in [b.key for b in other.get("download_button")]


@pytest.mark.parametrize(
    "query, page, values, notice",
    [
        ({"page": "similar", "variant": "nope"}, "similar", {"variant": "dense"}, "`variant` = `nope`"),
        ({"page": "similar", "item": "99999999"}, "similar", {"item_index": 69_999}, "`item` = `99999999`"),
        ({"page": "generator", "z": "nan,1,0,0,0,0,0,0,0,0"}, "generator", {"z0": 0.0, "z1": 1.0}, "`z0` = `nan`"),
        ({"page": "<script>alert(1)</script>", "item": "x"}, "map", {}, "`page` = `?script?alert"),
        ({"page": "denoiser", "noise": "garbage", "zzz": "1"}, "denoiser", {"noise_amount": 0.2}, "`noise`"),
        ({"page": ["denoiser", "similar"], "k": ["8", "9"]}, "denoiser", {"k": 8}, "was given 2 times"),
        ({"page": "map", "variant": "unet"}, "map", {"variant": "dense"}, "not one of dense, sparse, denoising, vae,"),
        (
            {"page": "generator", "variant": "nope"},
            "generator",
            {"variant": "vae"},
            "fashion-mnist/vae-latent2: using `vae`",
        ),
        ({"page": "similar", "k": "99"}, "similar", {"k": 20}, "`k` = `99`"),
    ],
)
def test_a_bad_link_shows_a_notice_and_a_working_page(query, page, values, notice):
    at = open_link(query)
    assert_clean(at)
    assert at.title[0].value == TITLES[page]
    for key, value in values.items():
        assert at.session_state[key] == value, key
    assert not at.toast  # toasts covered the top-right controls: one notice on the page instead
    shown = texts(at.warning)
    assert len(at.warning) == 1 and notice in shown and shown.startswith("Link: ")
    assert "<" not in shown  # user text is quoted in a safe alphabet


def test_many_link_problems_are_listed_in_one_notice():
    at = open_link({"item": "x", "noise": "y", "seed": "z", "k": "w", "z": "q", "variant": "v"})
    assert_clean(at)
    assert len(at.warning) == 1 and at.warning[0].value.count("\n- ") >= 5 and not at.toast


def test_an_out_of_range_link_value_gets_one_notice_with_the_value_used():
    at = open_link({"page": "similar", "k": "999"})
    assert_clean(at)
    assert at.slider(key="k").value == 20
    shown = texts(at.warning)
    assert len(at.warning) == 1 and shown.count("`k`") == 1 and "`999`" in shown
    assert "using `20`" in shown and "50" not in shown


# ----------------------------------------------------------------------------- your own picture


def test_your_picture_on_the_map(photo_png):
    from explorer.projection import load_projection

    at = open_page("map")
    keys = [b.key for b in at.get("download_button")]
    assert "map_download_html" in keys and "selection_csv" not in keys  # nothing selected (the map's PNG: in the map)
    at.file_uploader(key="map_upload").upload("photo.png", photo_png, "image/png").run()
    assert_clean(at)
    star = [m for m in map_data(at)["marks"] if m["label"] == "your picture"]
    proj = load_projection("dense")
    spread = np.ptp(proj.coords, axis=0).max()
    assert (
        len(star) == 1 and np.hypot(star[0]["x"] - proj.coords[3][0], star[0]["y"] - proj.coords[3][1]) < 0.01 * spread
    )
    assert "Your picture" in texts(at.subheader)
    assert any("its reconstruction (right)" in c for c in image_captions(at))
    # the neighbours' classes in words too: their cells, 5 a row, may cut a long class name
    assert any(c.value.startswith("Its 10 nearest test images") and "%" in c.value for c in at.caption)


def test_your_picture_as_the_similar_query(photo_png, fmnist):
    at = open_page("similar")
    at.file_uploader(key="similar_upload").upload("photo.png", photo_png, "image/png").run()
    assert_clean(at)
    assert "Query: your picture, and its reconstruction" in image_captions(at)
    label = CLASS_NAMES[fmnist.test.labels[3]]  # its nearest neighbour is the item it is a photo of
    assert at.metric[0].label == f"Most are {label}"
    table = at.dataframe[0].value
    assert table.loc[0, "shared with dense"] == "10 / 10" and len(table) >= len(TUTORIAL)  # every model was asked

    at.file_uploader(key="similar_upload").upload("notes.png", b"just text", "image/png").run()
    assert not at.exception
    assert "not an image" in texts(at.error)


def test_your_picture_through_the_denoiser(photo_png):
    at = open_page("denoiser")
    shown = len(at.get("image"))
    at.file_uploader(key="denoiser_upload").upload("photo.png", photo_png, "image/png").run()
    assert_clean(at)
    assert len(at.get("image")) == shown + 3  # before / after the preparation, then noisy, cleaned, median, clean
    assert "The same noise amount and seed as above" in texts(at.caption)


# ------------------------------------------------------------------------------------- serving


def test_served_safely():
    """What the README promises: local only, XSRF on, uploads capped, no usage stats; no HTML or pickles."""
    import re
    import tomllib

    from explorer.upload import MAX_BYTES

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1" and config["server"]["enableXsrfProtection"] is True
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_BYTES
    assert config["browser"]["gatherUsageStats"] is False
    for path in [REPO / "dashboard.py", *(REPO / "explorer").rglob("*.py")]:
        text = path.read_text()
        assert "unsafe_allow_html=True" not in text, path
        assert not re.search(r"\btorch\.load\(|\bpickle\.loads?\(", text), path


def test_a_missing_map_is_computed_once_with_progress(tmp_path, monkeypatch):
    """A run of one's own whose map is only missing (or stale) gets it computed by the page itself, saved beside
    the run, and then just loaded (on loopback; never into the checkpoints: tests/test_network_config.py)."""
    run = tmp_path / "runs" / "fashion-mnist" / "mine"
    shutil.copytree(
        default_root() / "fashion-mnist" / "vae-latent2", run, ignore=shutil.ignore_patterns("projection-*")
    )
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(config | {"run": "mine"}))
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path / "runs"))
    at = open_link({"page": "generator", "variant": "fashion-mnist/mine"}, timeout_s=300)
    assert_clean(at)
    assert (run / "projection-test.npz").is_file()
    assert {t["name"] for t in spec(at, "generator_map")["data"]} >= {"generated"}
