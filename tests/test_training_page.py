"""The Training page through Streamlit's AppTest, on real tiny runs trained with snapshots, and one caught mid-run
(progress and snapshots, no checkpoint yet); its selection logic (explorer.training_view) without a browser."""

from __future__ import annotations

import json

import numpy as np
import pytest

from explorer import cli, training_view
from explorer.snapshots import RunRecorder, watched_runs
from tests.support.pages import open_link, switch_page

SMALL = ["--limit", "600", "--set", "hidden=32", "--threads", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """fashion-mnist/vae (4 epochs, 10-d codes: the quick PCA layout), fashion-mnist/flat (2-d codes, prepared:
    the aligned map) and fashion-mnist/live: a run caught after 2 of 6 epochs, with no checkpoint."""
    root = tmp_path_factory.mktemp("training") / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENT_EXPLORER_RUNS", str(root))
        for name, variant, extra in (("vae", "vae", []), ("flat", "dense", ["--set", "latent=2"])):
            args = ["train", "--dataset", "fashion-mnist", "--variant", variant, "--name", name, "--set", "epochs=4"]
            assert cli.main([*args, *SMALL, *extra]) == 0
        assert cli.main(["prepare", "fashion-mnist/flat", "--threads", "1"]) == 0
        yield root


@pytest.fixture
def live_run(runs, fmnist):
    """A run training now (this process is its trainer): 2 epochs of 6 written through the real writer."""
    import torch

    from explorer.models import DenseConfig, get_variant

    torch.manual_seed(0)
    model = get_variant("dense").build(DenseConfig(hidden=(32,), code_dim=10)).eval()
    folder = runs / "fashion-mnist" / "live"
    recorder = RunRecorder(folder, 6, fmnist.test.images, snapshots=6, info={"variant": "dense"})
    recorder.start()
    history = []
    for epoch in (1, 2):
        history.append({"epoch": epoch, "train_loss": 0.1 / epoch, "val_loss": 0.09 / epoch, "seconds": 1.0})
        recorder.on_epoch(epoch, model, history)
    yield runs / "fashion-mnist" / "live"


def _clean(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _training_page(monkeypatch, runs):
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(runs))
    at = open_link({})
    switch_page(at, "training").run()
    _clean(at)
    return at


def test_the_run_picker_lists_a_training_run_as_training_first(runs, live_run):
    found = watched_runs("fashion-mnist", runs, runs.parent / "no-checkpoints")
    assert [r.key for r in found] == ["fashion-mnist/live", "fashion-mnist/flat", "fashion-mnist/vae"]
    assert found[0].label == "live: training: epoch 2 of 6, about 4 s left"
    assert found[1].label == "flat: finished after epoch 4 of 4; best epoch 4"
    assert not (live_run / "config.json").exists()  # no checkpoint yet: listed all the same


def test_training_page_shows_a_live_run_without_its_checkpoint(runs, live_run, monkeypatch):
    at = _training_page(monkeypatch, runs)
    picker = at.selectbox(key="training_run")
    assert picker.value == "fashion-mnist/live"
    assert "training: epoch 2 of 6" in picker.format_func(picker.value)
    assert any("training: epoch 2 of 6" in str(p.proto.text) for p in at.get("progress"))
    assert at.select_slider(key="training_frame").value == 1  # the newest frame
    assert len(at.get("plotly_chart")) == 2  # the map and the curves
    assert "A quick PCA layout" in "\n".join(c.value for c in at.caption)


def test_training_page_scrubs_plays_and_follows_an_item(runs, monkeypatch):
    at = _training_page(monkeypatch, runs)
    at.selectbox(key="training_run").set_value("fashion-mnist/flat").run()
    _clean(at)
    assert at.select_slider(key="training_frame").value == 3
    assert at.success[0].value.startswith("finished after epoch 4 of 4")
    assert "Aligned UMAP layout" in "\n".join(c.value for c in at.caption)
    at.select_slider(key="training_frame").set_value(0).run()
    _clean(at)
    assert "Epoch 1 (frame 1 of 4)" in "\n".join(c.value for c in at.caption)
    at.button(key="training_play").click().run()  # play: each run of the page moves one frame on
    _clean(at)
    assert at.button(key="training_play").label == "Pause"
    assert at.select_slider(key="training_frame").value == 1
    at.button(key="training_play").click().run()
    assert at.button(key="training_play").label == "Play"
    at.session_state["_training_follow"] = int(np.load(runs / "fashion-mnist/flat/snapshots/epoch-0001.npz")["ids"][5])
    at.run()
    _clean(at)
    assert any(c.value.startswith("Following item") for c in at.caption)
    at.selectbox(key="training_run").set_value("fashion-mnist/vae").run()  # a generative run: its samples
    _clean(at)
    assert "Samples" in "\n".join(m.value for m in at.markdown)


def test_training_page_without_runs_names_the_command(tmp_path, monkeypatch):
    at = _training_page(monkeypatch, tmp_path / "runs")
    assert "--variant dense --name dense-snap" in at.code[0].value


def test_shown_frame_follows_the_newest_unless_the_viewer_went_back():
    assert training_view.shown_frame(None, 3, None) == 2
    assert training_view.shown_frame(2, 4, 3) == 3  # on the newest: a new frame shows
    assert training_view.shown_frame(1, 4, 3) == 1  # looking back: stays
    assert training_view.shown_frame(0, 4, 4) == 0  # went back to the first
    assert training_view.shown_frame(9, 4, None) == 3
    assert training_view.next_frame(3, 4) == 0
    with pytest.raises(ValueError, match="n_frames == 0"):
        training_view.shown_frame(0, 0, None)


def test_clicking_an_item_follows_it_and_a_click_elsewhere_keeps_it():
    ids = np.array([3, 8, 20])
    assert training_view.followed_item(None, [8], ids) == 8
    assert training_view.followed_item(8, [], ids) == 8  # no click: the same item
    assert training_view.followed_item(8, [99, 20], ids) == 20  # the first clicked item that the frames hold
    assert training_view.followed_item(8, [99], ids) == 8
    layouts = np.arange(3 * 3 * 2, dtype=np.float32).reshape(3, 3, 2)
    assert training_view.trail(layouts, ids, 20, upto=1).tolist() == [[4, 5], [10, 11]]
    with pytest.raises(ValueError, match="item 5 is not among"):
        training_view.trail(layouts, ids, 5)


def test_colour_by_cluster_follows_the_items_from_the_last_frame(runs, monkeypatch):
    at = _training_page(monkeypatch, runs)
    at.selectbox(key="training_run").set_value("fashion-mnist/vae").run()
    at.radio(key="training_color").set_value("cluster").run()
    _clean(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = {t.get("name") for t in spec["data"]}
    assert {f"cluster {c}" for c in range(1, 11)} <= names


def test_final_clusters_are_the_last_frames_kmeans():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 10.0]])
    last = np.concatenate([centres[0] + rng.normal(size=(20, 2)), centres[1] + rng.normal(size=(20, 2))])
    codes = np.stack([rng.normal(size=(40, 2)), last])  # the first frame: noise; the last decides
    got = training_view.final_clusters(codes, k=2)
    assert len(set(got[:20])) == 1 and len(set(got[20:])) == 1 and got[0] != got[20]
    with pytest.raises(ValueError, match="no items"):
        training_view.final_clusters(np.zeros((1, 0, 2)))
