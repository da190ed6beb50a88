"""The shareable view's query parameters: round trip, and every malformed value ends in a default or a clamp."""

from __future__ import annotations

import math

import pytest

from explorer.urlstate import K_MAX, N_Z, ViewState, fit_to_widgets, merge_notices, parse_query, quote, to_query

VARIANTS = ("dense", "sparse", "denoising", "vae", "unet")
PAGES = ("overview", "map", "similar", "generator", "denoiser")
N = 10_000


def parse(params, defaults=None):
    return parse_query(params, N, VARIANTS, PAGES, defaults)


def test_empty_query_gives_defaults_and_no_notice():
    state, notices = parse({})
    assert state == ViewState(page="overview", variant="dense") and notices == []


def test_defaults_are_respected():
    d = ViewState(page="map", variant="vae", noise=0.3, k=5)
    assert parse({}, d) == (d, [])


def test_round_trip():
    s = ViewState(
        page="generator",
        variant="vae",
        item=9999,
        z=(0.5, -1.25, 0.0, 3.0, -3.0, 0.1, 1 / 3, -2.9999, 1e-7, 2.0),
        noise=0.35,
        seed=123456,
        k=50,
    )
    q = to_query(s)
    assert all(isinstance(v, str) for v in q.values())
    assert q["z"].startswith("0.5,-1.25,0,3,-3,0.1,")
    assert parse(q) == (s, [])
    # Streamlit hands a repeated-key-free query as plain strings, or as lists of one value: both work.
    assert parse({k: [v] for k, v in q.items()}) == (s, [])


def test_names_match_case_insensitively():
    state, notices = parse({"page": " Map ", "variant": "VAE"})
    assert (state.page, state.variant, notices) == ("map", "vae", [])


@pytest.mark.parametrize("key", ["page", "variant"])
def test_unknown_choice_falls_back_with_notice(key):
    state, notices = parse({key: "resnet152"})
    assert getattr(state, key) == ("overview" if key == "page" else "dense")
    assert len(notices) == 1 and notices[0].startswith(f"`{key}` = `resnet152` is not one of")
    assert "using `" in notices[0]


@pytest.mark.parametrize(
    "raw, expected, fragment",
    [
        ("10000", 9999, "outside 0–9999: using 9999"),
        ("1e9", 9999, "outside 0–9999: using 9999"),
        ("-1", 0, "outside 0–9999: using 0"),
        ("12.5", 0, "is not a whole number: using 0"),
        ("nan", 0, "is not a whole number"),
        ("inf", 0, "is not a whole number"),
        ("abc", 0, "is not a whole number"),
        ("9" * 5000, 0, "is not a whole number"),
        ("", 0, "is not a whole number"),
    ],
)
def test_item(raw, expected, fragment):
    state, notices = parse({"item": raw})
    assert state.item == expected
    assert len(notices) == 1 and notices[0].startswith("`item` = ") and fragment in notices[0]


def test_item_accepts_integer_spellings():
    assert parse({"item": " 42 "})[0].item == 42
    assert parse({"item": "42.0"})[0].item == 42
    assert parse({"item": "4e3"})[0].item == 4000


def test_z_values_clamped_and_nonfinite_replaced():
    raw = "0.5,nan,1e9,-inf,-7,abc,2,3,-3,0"
    state, notices = parse({"z": raw})
    assert state.z == (0.5, 0.0, 3.0, 0.0, -3.0, 0.0, 2.0, 3.0, -3.0, 0.0)
    assert all(math.isfinite(v) and -3 <= v <= 3 for v in state.z)
    text = "\n".join(notices)
    for fragment in ("`z1` = `nan` is not a finite", "`z2` = `1e9` is outside", "`z3` = `-inf`", "`z4` = `-7`", "`z5`"):
        assert fragment in text
    assert len(notices) == 5


@pytest.mark.parametrize(
    "raw, expected, fragment",
    [
        ("1,2", (1.0, 2.0) + (0.0,) * (N_Z - 2), "has 2 values, the generator takes 10: the missing ones are 0"),
        (",".join(["1"] * 12), (1.0,) * N_Z, "has 12 values, the generator takes 10: the extra ones are ignored"),
    ],
)
def test_z_wrong_length(raw, expected, fragment):
    state, notices = parse({"z": raw})
    assert state.z == expected and notices == [f"`z` {fragment}."]


@pytest.mark.parametrize(
    "raw, expected, fragment",
    [
        ("0.9", 0.5, "outside 0.0–0.5: using 0.5"),
        ("-0.1", 0.0, "outside 0.0–0.5: using 0.0"),
        ("NaN", 0.2, "is not a finite number: using 0.2"),
        ("1e309", 0.2, "is not a finite number"),  # overflows to inf
        ("lots", 0.2, "is not a finite number"),
    ],
)
def test_noise(raw, expected, fragment):
    state, notices = parse({"noise": raw})
    assert state.noise == expected and len(notices) == 1 and fragment in notices[0]


@pytest.mark.parametrize(
    "key, raw, expected, fragment",
    [
        ("seed", "-5", 0, "outside 0–2147483647: using 0"),
        ("seed", "99999999999", 2**31 - 1, "using 2147483647"),
        ("seed", "x", 0, "is not a whole number"),
        ("k", "0", 1, "outside 1–50: using 1"),
        ("k", "500", K_MAX, "outside 1–50: using 50"),
        ("k", "3.7", 10, "is not a whole number: using 10"),
    ],
)
def test_seed_and_k(key, raw, expected, fragment):
    state, notices = parse({key: raw})
    assert getattr(state, key) == expected and len(notices) == 1 and fragment in notices[0]


def test_repeated_key_uses_first_with_notice():
    state, notices = parse({"variant": ["vae", "sparse"], "k": ["7"]})
    assert state.variant == "vae" and state.k == 7
    assert notices == ["`variant` was given 2 times: using the first, `vae`."]


def test_repeated_key_whose_first_value_is_bad():
    state, notices = parse({"item": ["oops", "5"]})
    assert state.item == 0 and len(notices) == 2


def test_unknown_parameters_are_named():
    state, notices = parse({"foo": "1", "utm_source": "mail", "variant": "vae"})
    assert state.variant == "vae"
    assert notices == ["Ignored unknown parameters `foo`, `utm_source`."]


def test_notices_never_carry_markup():
    evil = "<script>alert(1)</script>![x](http://evil/)`" + "A" * 100
    state, notices = parse({"variant": evil, evil: "1"})
    for n in notices:
        assert "<" not in n and "(" not in n.split("`variant`")[-1].split("is not")[0] and "http://" not in n
    assert quote(evil).endswith("…`") and len(quote(evil)) <= 44


def test_everything_bad_at_once_never_raises():
    params = {"page": "", "variant": "", "item": "", "z": "", "noise": "", "seed": "", "k": ""}
    state, notices = parse(params)
    assert state == ViewState(page="overview", variant="dense") and len(notices) == 7


def test_bad_configuration_is_a_programming_error():
    with pytest.raises(ValueError, match="n_items == 0"):
        parse_query({}, 0, VARIANTS, PAGES)


def test_fit_to_widgets_clamps_with_notice():
    state, _ = parse({"k": "50", "noise": "0.5", "item": "7"})
    fitted, notices = fit_to_widgets(state, {"k": (4, 20), "noise": (0.0, 0.4)}, given=["k", "noise", "item"])
    assert (fitted.k, fitted.noise, fitted.item) == (20, 0.4, 7)
    assert notices == [
        "`k` = `50` is outside this page's 4–20: using `20`.",
        "`noise` = `0.5` is outside this page's 0.0–0.4: using `0.4`.",
    ]


def test_fit_to_widgets_is_silent_for_fields_not_in_the_link():
    fitted, notices = fit_to_widgets(ViewState(k=2), {"k": (4, 20)}, given=[])
    assert fitted.k == 4 and notices == []


def test_fit_to_widgets_rejects_choice_fields():
    with pytest.raises(ValueError, match="limits has 'variant'"):
        fit_to_widgets(ViewState(), {"variant": (0, 1)})


# ------------------------------------------------------------------ page-specific fields and one notice per parameter


@pytest.mark.parametrize(
    "params, expected, fragment",
    [
        ({"bits": "4"}, {"bits": 4}, None),
        ({"bits": "99"}, {"bits": 16}, "outside 1–16: using 16"),
        ({"bits": "four"}, {"bits": 0}, "is not a whole number"),
        ({"method": "n2d_sparse"}, {"method": "n2d_sparse"}, None),
        ({"method": " kmeans-pca10 "}, {"method": "kmeans-pca10"}, None),
        ({"method": "<script>"}, {"method": ""}, "is not a method's name"),
        ({"method": "x" * 41}, {"method": ""}, "is not a method's name"),
    ],
)
def test_the_compression_and_clustering_fields(params, expected, fragment):
    state, notices = parse(params)
    assert {k: getattr(state, k) for k in expected} == expected
    assert (notices == []) if fragment is None else (len(notices) == 1 and fragment in notices[0])


def test_page_fields_are_written_only_when_set_and_read_back():
    assert "bits" not in to_query(ViewState()) and "method" not in to_query(ViewState())
    s = ViewState(page="compression", variant="vae", item=7, bits=4)
    assert parse(to_query(s) | {"page": "map"})[0] == ViewState(page="map", variant="vae", item=7, bits=4)
    c = ViewState(page="map", variant="dense", method="n2d_vae")
    assert to_query(c)["method"] == "n2d_vae" and parse(to_query(c)) == (c, [])


@pytest.mark.parametrize(
    "notices, expected",
    [
        ([], []),
        (
            ["`k` = `999` is outside 1–50: using 50.", "`k` = `50` is outside this page's 4–20: using `20`."],
            ["`k` = `999` is outside this page's 4–20: using `20`."],
        ),
        (
            [
                "`k` = `0` is outside 1–50: using 1.",
                "`k` = `1` is outside this page's 4–20: using `4`.",
                "`item` = `x` is not a whole number: using 0.",
            ],
            ["`k` = `0` is outside this page's 4–20: using `4`.", "`item` = `x` is not a whole number: using 0."],
        ),
        (
            [
                "`z` has 3 values, the generator takes 10: the missing ones are 0.",
                "`z1` = `9` is outside -3–3: using 3.",
            ],
            [
                "`z` has 3 values, the generator takes 10: the missing ones are 0.",
                "`z1` = `9` is outside -3–3: using 3.",
            ],
        ),
    ],
)
def test_one_notice_per_parameter_with_the_value_used(notices, expected):
    assert merge_notices(notices) == expected


def test_a_link_value_clamped_twice_is_announced_once():
    state, notices = parse({"k": "999"})
    state, more = fit_to_widgets(state, {"k": (4, 20)}, given=["k"])
    merged = merge_notices(notices + more)
    assert state.k == 20 and len(merged) == 1 and "`999`" in merged[0] and "using `20`" in merged[0]
    assert "50" not in merged[0]
