"""The dashboard on datasets and runs of one's own: the dataset picker, run pickers filtered by capability, links
that name both, unlabelled data, and a run whose dataset is gone.

Real data (scikit-learn's UCI digits, 8x8), real training (tiny runs with a 2-d code, so that the map is the code
itself and no UMAP is fitted) and the real app through Streamlit's AppTest.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer import cli
from tests.support.map_data import map_data
from tests.support.pages import open_link, switch_page

APP = str(Path(__file__).resolve().parents[1] / "dashboard.py")


@pytest.fixture(scope="module")
def own_runs(tmp_path_factory):
    """Datasets `digits` (labelled) and `digits-plain` (no labels); runs digits/dense, digits/vae and
    digits-plain/dense, trained and prepared; and `gone/dense`, a run whose dataset was never registered."""
    from sklearn.datasets import load_digits

    tmp = tmp_path_factory.mktemp("own")
    d = load_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8)
    np.savez(tmp / "digits.npz", x=x, y=d.target, class_names=np.array([str(i) for i in range(10)]))
    np.savez(tmp / "plain.npz", x=x[:600])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENT_EXPLORER_RUNS", str(tmp / "runs"))
        mp.setenv("LATENT_EXPLORER_DATASETS", str(tmp / "datasets"))
        assert cli.main(["dataset", "add", "digits", str(tmp / "digits.npz")]) == 0
        assert cli.main(["dataset", "add", "digits-plain", str(tmp / "plain.npz")]) == 0
        small = ["--set", "latent=2", "--set", "epochs=2", "--set", "hidden=32", "--threads", "1"]
        for dataset, variant in (("digits", "dense"), ("digits", "vae"), ("digits-plain", "dense")):
            args = ["train", "--dataset", dataset, "--variant", variant, "--name", variant, *small]
            assert cli.main(args) == 0
        assert cli.main(["prepare", "digits/dense", "digits/vae", "digits-plain/dense", "--threads", "1"]) == 0
        gone = tmp / "runs" / "gone" / "dense"
        gone.mkdir(parents=True)
        config = json.loads((tmp / "runs" / "digits" / "dense" / "config.json").read_text())
        (gone / "config.json").write_text(json.dumps(config | {"dataset": "gone", "run": "dense"}))
        yield tmp


def _app(query: dict | None = None) -> AppTest:
    if query:
        return open_link(query)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["live_decode"] = False
    return at.run()


def _clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_the_dataset_picker_offers_every_dataset_and_each_page_the_runs_that_can_serve_it(own_runs):
    at = _app()
    _clean(at)
    picker = at.selectbox(key="dataset")
    assert picker.value == "fashion-mnist"
    assert {"fashion-mnist", "digits", "digits-plain", "gone"} <= set(picker.options)
    picker.set_value("digits").run()
    _clean(at)
    assert at.selectbox(key="variant").options == ["dense (Dense autoencoder)", "vae (Variational autoencoder)"]
    assert (at.query_params["dataset"], at.query_params["variant"]) == ("digits", "digits/dense")
    assert at.get("bidi_component"), "the map of digits/dense"
    switch_page(at, "generator").run()  # only the generative run is offered
    _clean(at)
    assert at.selectbox(key="variant").options == ["vae (Variational autoencoder)"]
    switch_page(at, "denoiser").run()  # no denoiser on digits: the page names the command that trains one
    _clean(at)
    assert "No run on **digits** has a denoiser" in "\n".join(i.value for i in at.info)
    assert any("--dataset digits --variant unet" in c.value for c in at.code)


def test_a_link_names_the_dataset_and_the_run(own_runs):
    at = _app({"page": "generator", "dataset": "digits", "variant": "digits/vae"})
    _clean(at)
    assert at.selectbox(key="dataset").value == "digits"
    assert at.selectbox(key="variant").value == "digits/vae"
    # a 2-d latent space: two sliders (server-side here), and the manifold grid spans the codes' extent
    assert [s.key for s in at.slider if s.key and s.key.startswith("z")] == ["z0", "z1"]
    from explorer.projection import load_projection

    codes = load_projection("digits/vae").codes
    extent = float(np.percentile(np.abs(codes), 99))
    assert at.number_input(key="grid_span").value == min(6.0, max(0.5, np.ceil(2 * extent) / 2))
    assert not at.warning, [w.value for w in at.warning]


def test_a_bad_run_in_a_link_falls_back_with_one_notice(own_runs):
    at = _app({"page": "map", "dataset": "digits", "variant": "digits/nope"})
    _clean(at)
    assert at.selectbox(key="variant").value == "digits/dense"
    assert "digits/nope" in "\n".join(w.value for w in at.warning)


def test_an_unlabelled_dataset_colours_by_error_and_never_fakes_class_scores(own_runs):
    at = _app({"page": "map", "dataset": "digits-plain"})
    _clean(at)
    data = map_data(at)
    assert data["modes"] == ["error", "cluster"] and data["points"]["label"] is None  # no classes to colour by
    assert "has no labels" in "\n".join(c.value for c in at.caption)
    switch_page(at, "similar").run()
    _clean(at)
    assert not [m for m in at.metric if m.label == "Same class"]
    assert "needs labels" in "\n".join(c.value for c in at.caption)


def test_compare_takes_any_chosen_runs(own_runs):
    at = _app({"page": "compare", "dataset": "digits"})
    _clean(at)
    chosen = at.multiselect(key="compare_runs")
    assert set(chosen.value) == {"digits/dense", "digits/vae"}
    table = at.dataframe[0].value
    assert {"dense (Dense autoencoder)", "vae (Variational autoencoder)"} <= set(table.index)
    assert any(i.startswith("PCA, 2 components") for i in table.index), "each run's own PCA baseline (prepare)"
    agreement = at.dataframe[-1].value
    assert agreement.shape == (2, 2) and float(agreement.iloc[0, 0]) == 1.0


def test_a_run_whose_dataset_is_gone_says_how_to_register_it(own_runs):
    at = _app()
    at.selectbox(key="dataset").set_value("gone").run()
    assert not at.exception
    assert "Dataset gone is not available" in "\n".join(t.value for t in at.title)
    assert "dataset add gone PATH" in "\n".join(m.value for m in at.markdown)


def test_a_run_on_a_small_dataset_is_prepared_on_first_open(own_runs):
    small = ["--set", "latent=2", "--set", "epochs=1", "--set", "hidden=16", "--threads", "1"]
    assert cli.main(["train", "--dataset", "digits", "--variant", "dense", "--name", "fresh", *small]) == 0
    run = own_runs / "runs" / "digits" / "fresh"
    assert not (run / "metrics.json").exists() and not (run / "projection-test.npz").exists()
    at = _app({"page": "map", "dataset": "digits", "variant": "digits/fresh"})
    _clean(at)
    assert (run / "metrics.json").is_file() and (run / "projection-test.npz").is_file()
    assert at.get("bidi_component"), "its map, drawn in the same run"


def test_compare_shows_each_chosen_vaes_generation_quality(tmp_path, monkeypatch):
    """The shipped VAE beside the shipped β = 4 run: one generation-quality table with a row for each."""
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path))
    at = _app({"page": "compare", "dataset": "fashion-mnist"})
    at.multiselect(key="compare_runs").set_value(["vae", "fashion-mnist/vae-beta4"]).run()
    assert not at.exception, [e.value for e in at.exception]
    tables = [d.value for d in at.dataframe if any("Fashion-FID" in str(c) for c in d.value.columns)]
    assert len(tables) == 1
    index = list(tables[0].index)
    assert index[0].startswith("VAE samples") and index[1].startswith("vae-beta4 (Variational autoencoder): samples")
    assert "PCA-10 + Gaussian samples" in index
    fid = tables[0]["Fashion-FID to test ↓"]
    assert fid.iloc[0] < fid.loc["PCA-10 + Gaussian samples"] and fid.iloc[1] < fid.loc["PCA-10 + Gaussian samples"]


def test_data_quality_is_prepared_for_every_run_and_mislabels_need_labels(own_runs):
    from explorer.commands.quality import load_quality

    plain = load_quality("digits-plain/dense", own_runs / "runs")  # stored by the fixture's `prepare`
    assert plain.mislabels is None and len(plain.by_error) and len(plain.duplicates)
    assert load_quality("digits/dense", own_runs / "runs").mislabels is not None
    at = _app({"page": "quality", "dataset": "digits-plain"})
    _clean(at)
    assert "needs labels" in "\n".join(i.value for i in at.info)
    assert len(at.get("image")) == 2, "outliers and near-duplicates need no labels"
    at = _app({"page": "quality", "dataset": "digits", "variant": "digits/vae"})
    _clean(at)
    assert at.selectbox(key="variant").value == "digits/vae" and len(at.get("image")) == 3
