"""Shareable links on the Compression and Clustering pages (issue 14, item 5): their widgets are read from a link
and written back to the URL as they change, and a link value the page cannot show gets one notice naming the value
used. AppTest on the dashboard with the shipped artefacts."""

from __future__ import annotations

from tests.support.pages import open_link


def clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_a_compression_link_opens_its_variant_bits_and_image_and_the_url_follows():
    at = open_link({"page": "compression", "variant": "vae", "item": "7", "bits": "4"})
    clean(at)
    assert at.selectbox(key="cz_variant").value == "vae"
    assert at.radio(key="cz_bits").value == 4 and at.number_input(key="cz_item").value == 7
    assert not at.warning  # a good link: no notice
    assert {k: at.query_params[k] for k in ("page", "variant", "item", "bits")} == {
        "page": "compression",
        "variant": "vae",
        "item": "7",
        "bits": "4",
    }
    at.radio(key="cz_bits").set_value(8).run()
    at.number_input(key="cz_item").set_value(42).run()
    at.selectbox(key="cz_variant").set_value("dense").run()
    clean(at)
    assert (at.query_params["variant"], at.query_params["item"], at.query_params["bits"]) == ("dense", "42", "8")


def test_a_compression_link_the_page_cannot_show_gets_one_notice_per_value():
    at = open_link({"page": "compression", "bits": "5", "item": "12000"})
    clean(at)
    assert at.radio(key="cz_bits").value == 6 and at.number_input(key="cz_item").value == 0
    shown = [w.value for w in at.warning]
    assert len(shown) == 2, shown
    assert sum("`bits` = `5` is not one of 4, 6, 8: using `6`" in w for w in shown) == 1
    assert sum("`item` = `12000` is not one of 0–9999: using `0`" in w for w in shown) == 1
    assert at.query_params["bits"] == "6" and at.query_params["item"] == "0"


def test_a_clustering_link_opens_its_method_and_the_url_follows():
    at = open_link({"page": "clustering", "method": "kmeans_pca10"})
    clean(at)
    assert at.radio(key="cl_method").value == "kmeans_pca10" and not at.warning
    assert at.query_params["page"] == "clustering" and at.query_params["method"] == "kmeans_pca10"
    at.radio(key="cl_method").set_value("n2d").run()
    clean(at)
    assert at.query_params["method"] == "n2d"


def test_a_clustering_link_with_an_unknown_method_says_which_is_shown():
    at = open_link({"page": "clustering", "method": "spectral"})
    clean(at)
    primary = at.radio(key="cl_method").value
    assert len(at.warning) == 1 and "`method` = `spectral` is not one of" in at.warning[0].value
    assert f"using `{primary}`" in at.warning[0].value and at.query_params["method"] == primary


def test_other_pages_links_carry_no_compression_or_clustering_fields():
    at = open_link({"page": "clustering", "method": "n2d"})
    from tests.support.pages import switch_page

    switch_page(at, "similar").run()
    clean(at)
    assert at.query_params["page"] == "similar"
    assert "method" not in at.query_params and "bits" not in at.query_params
