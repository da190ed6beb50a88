"""The Generator and Compare pages' sections under AppTest, with a seeded untrained VAE and judge saved as
checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

APP = str(Path(__file__).resolve().parent / "apps" / "generation_sections_app.py")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    from explorer.checkpoint import JUDGE, save_checkpoint
    from explorer.judge import Judge, JudgeConfig
    from explorer.models import REGISTRY

    root = tmp_path_factory.mktemp("ck")
    torch.manual_seed(0)
    save_checkpoint(REGISTRY["vae"].build(), "vae", root)
    save_checkpoint(Judge(JudgeConfig(channels=(4, 4, 4), hidden=8)).eval(), JUDGE, root)
    return root


@pytest.fixture
def app(root, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LATENT_EXPLORER_CHECKPOINTS", str(root))
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["z3"] = 1.5
    return at.run()


def test_sections_render_with_the_judge_label_and_a_15x15_grid(app):
    assert not app.exception
    assert app.session_state["shown_z"][3] == pytest.approx(1.5)
    assert any(m.value.startswith("looks like: ") for m in app.markdown)
    assert app.session_state["grid_shape"] == (15 * 28, 15 * 28)
    assert app.session_state["interp_mode_value"] == "linear"
    assert any("not measured yet" in i.value for i in app.info)


def test_grid_through_three_items_and_slerp(app):
    app.radio(key="grid_plane").set_value("items")
    app.slider(key="grid_n").set_value(5)
    app.radio(key="interp_mode").set_value("slerp").run()
    assert not app.exception
    assert app.session_state["grid_shape"] == (5 * 28, 5 * 28)
    assert app.session_state["interp_mode_value"] == "slerp"
    app.number_input(key="grid_item_c").set_value(0).run()  # A and C coincide: no plane, a message instead
    assert not app.exception
    assert app.session_state["grid_shape"] is None
    assert any("one line" in e.value for e in app.error)


def test_quality_table_once_measured(app, root, fmnist):
    from explorer.commands.evaluate import run_generation_quality

    run_generation_quality(root, n=300)
    app.run()
    assert not app.exception
    assert len(app.dataframe) == 1
    assert "VAE samples" in " ".join(app.dataframe[0].value.index)


def test_judge_text_names_the_top_two_classes():
    import numpy as np

    from explorer.ui.generation_sections import judge_text

    p = np.zeros(10)
    p[7], p[9], p[5] = 0.87, 0.1, 0.03
    assert judge_text(p) == "looks like: Sneaker 87%  (then Ankle boot 10%)"
