"""Page: clustering. N2D on each autoencoder's codes and DEC on the dense one's, all 70k images, against k-means on
PCA-10."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer import clustering as cl
from explorer import figures, images
from explorer.commands import cluster as cc
from explorer.data import FASHION_MNIST, N_TEST, N_TRAIN
from explorer.models import REGISTRY
from explorer.ui import common, urlsync

METHOD_TITLES = {  # in the order the page lists them
    "n2d_sparse": "N2D on the sparse codes (cosine)",
    "n2d": "N2D on the dense codes",
    "n2d_vae": "N2D on the VAE's codes",
    "dec": "DEC (dense encoder fine-tuned on KL(P‖Q))",
    "kmeans_ae": "k-means on the dense codes",
    "kmeans_pca10": "k-means on PCA-10",
}


def method_title(method: str) -> str:
    if method in METHOD_TITLES:
        return METHOD_TITLES[method]
    if method.startswith(cl.N2D_PREFIX):
        return f"N2D on the {method.removeprefix(cl.N2D_PREFIX)} codes"
    return method


def _summary(method: str, root) -> list[dict]:
    """Per cluster of ``method``: its size, matched class and purity (``clustering.cluster_summary``)."""
    c = cc.load_clustering(root)
    return cl.cluster_summary(c.labels, c.assignments[method])


def _confusion(method: str, root):
    """The clusters × classes heatmap of ``method`` (built once per process: a Plotly figure costs ~0.2 s)."""
    c = cc.load_clustering(root)
    return figures.confusion_figure(c.labels, c.assignments[method])


def _sample_mosaics(method: str, root) -> dict[int, bytes]:
    """Per cluster of ``method``: 16 of its images (seeded) as one PNG, made once per process."""
    from explorer import exports

    assign = cc.load_clustering(root).assignments[method]
    all_images = common.items(FASHION_MNIST).images  # clustering rows are item ids (all_images order)
    return {
        int(cluster): exports.png_bytes(images.mosaic(all_images[ids], pad=2, scale=2))
        for cluster, ids in cl.samples_per_cluster(assign, per_cluster=16, seed=0).items()
    }


def page() -> None:
    common.header(
        "Clustering",
        "Without labels, can the autoencoder's codes sort the 70,000 images into the ten kinds of clothing? "
        "Computed offline by `python -m explorer cluster`; shown here, never recomputed.",
    )
    common.require_fashion_mnist("Clustering")
    # load_clustering checks the weights of every model whose codes a stored method clustered
    c = common.require_artefact(cc.load_clustering, fix=cc.FIX, missing="There is no clustering to show yet.")
    if len(c.labels) != N_TEST + N_TRAIN:
        st.error(
            f"The stored clustering covers {len(c.labels):,} images (a `--limit` run), not all 70,000. Recompute it:",
            icon="⚠️",
        )
        st.code(cc.FIX, language="bash")
        st.stop()

    columns = {
        "ACC": st.column_config.NumberColumn(format="%.3f", help="Unsupervised accuracy (Hungarian matching)"),
        "NMI": st.column_config.NumberColumn(format="%.3f", help="Normalised mutual information"),
    }
    st.dataframe(_metrics_frame(c.info), hide_index=True, column_config=columns)
    bar = c.info["bar"]
    primary = c.info["primary"]
    p = c.info["methods"][primary]
    (st.success if bar["met"] else st.warning)(
        f"**Bar: ACC ≥ {bar['acc']} and NMI ≥ {bar['nmi']}** for the shipped clustering ({method_title(primary)}): "
        f"ACC {p['acc']:.3f}, NMI {p['nmi']:.3f} — {'met' if bar['met'] else 'not met'}."
    )

    methods = [m for m in METHOD_TITLES if m in c.assignments] + [m for m in c.assignments if m not in METHOD_TITLES]
    urlsync.fit_choice("cl_method", methods, primary if primary in methods else methods[0], "method")  # a link's
    common.default("cl_method", primary if primary in methods else methods[0])
    method = st.radio("Clustering", methods, key="cl_method", horizontal=True, format_func=method_title)
    urlsync.write_url_state(urlsync.current_state("clustering", None, method=method))
    assign = c.assignments[method]
    summary = common.artefact(_summary, method, fix=cc.FIX).value or []
    names = {r["cluster"]: f"{r['cluster']} → {r['class_name']} ({r['purity']:.0%})" for r in summary}

    _map(assign, names, cc.method_encoder(method, c.info.get("encoder", "dense")) or "dense")
    # Full width: in a side column its counts were unreadable at 1280 and its rotated labels drifted off their columns
    st.markdown("**Clusters × classes** (each cluster named by the class the best matching gives it)")
    confusion = common.artefact(_confusion, method, fix=cc.FIX).value  # the stored clustering loaded above
    st.plotly_chart(confusion, key="cl_confusion", config=common.PLOTLY_CONFIG)

    st.subheader("Sample images per cluster")
    mosaics = common.artefact(_sample_mosaics, method, fix=cc.FIX).value or {}
    for r in summary:
        caption = f"cluster {names[r['cluster']]} · {r['size']:,} images · most common class: {r['top_class']}"
        st.image(mosaics[r["cluster"]], caption=caption, output_format="PNG")  # stored PNG, not re-encoded


def _duration(seconds) -> str:
    if not isinstance(seconds, int | float):
        return "—"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _metrics_frame(info: dict) -> pd.DataFrame:
    measured = "measured here, 70k images"
    rows = [
        {
            "method": method_title(m),
            "source": measured,
            "ACC": v["acc"],
            "NMI": v["nmi"],
            "time": _duration(v.get("seconds")),
        }
        for m, v in info["methods"].items()
    ]
    rows += [
        {"method": k, "source": "published", "ACC": v["acc"], "NMI": v["nmi"], "time": "—"}
        for k, v in info.get("published", {}).items()
    ]
    return pd.DataFrame(rows)


def _map(assign: np.ndarray, names: dict[int, str], name: str) -> None:
    """Model ``name``'s latent map coloured by cluster: the 10k test images, or all 70k when asked and that map
    exists (70k WebGL points cost the browser a second or more)."""
    title = REGISTRY[name].title
    common.default("cl_all", False)
    st.toggle(
        "All 70k images",
        key="cl_all",
        help="The map of all 70,000 clustered images (slower to draw); off: the 10,000 test images",
    )
    all_map = common.proj(name, "all", compute=False) if st.session_state["cl_all"] else None
    if all_map is not None and all_map.ok:
        coords, rows, what = all_map.value.coords, assign, "all 70,000 images"
    else:
        if all_map is not None:  # asked for, but missing: minutes of UMAP, so only by the command
            st.caption(f"No map of all 70k images for this model yet (`{all_map.fixes[0]}`); the test images:")
        test_map = common.proj(name, "test", compute=False)  # the Latent map page computes missing maps
        if not test_map.ok:
            common.show_unavailable(name, test_map, " on the map")
            return
        # clustering rows are in item-id order: the test images are the first 10,000
        coords, rows, what = test_map.value.coords, assign[:N_TEST], "the 10,000 test images"
    st.markdown(f"**Latent map of the {title[0].lower()}{title[1:]}** (whose codes were clustered), {what}, by cluster")
    st.plotly_chart(figures.cluster_map_figure(coords, rows, names), key="cl_map", config=common.PLOTLY_CONFIG)
