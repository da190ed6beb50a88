"""Plotly figures of the dashboard: the latent map, training curves. Arrays in, ``go.Figure`` out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .data import CLASS_NAMES

# One qualitative palette of ten (Tableau 10) for the ten classes, on every page.
CLASS_COLORS = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
TRAIN_COLOR, VAL_COLOR = "#4e79a7", "#f28e2b"
ERROR_SCALE = "Viridis"
COLOR_MODES = ("class", "error")


def class_color(label: int) -> str:
    """The palette's colour of class ``label`` (cycled past ten classes)."""
    return CLASS_COLORS[int(label) % len(CLASS_COLORS)]


def _map_layout(fig, height: int, uirevision: str, show_legend: bool):
    axis = dict(showgrid=False, zeroline=False, showticklabels=False, title=None)
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        xaxis=axis,
        yaxis=dict(axis, scaleanchor="x", scaleratio=1),  # UMAP distances are isotropic
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, itemsizing="constant", title=None),
        showlegend=show_legend,
        # Streamlit gives a selectable chart clickmode "event" (a click selects nothing) while the drag mode is lasso or
        # box: pan keeps a plain click on a dot selecting it; the lasso and box tools stay in the mode bar.
        dragmode="pan",
        uirevision=uirevision,  # keeps zoom and legend toggles across reruns of the same map
        plot_bgcolor="white",
        hoverlabel=dict(namelength=-1),
        modebar=dict(orientation="v"),  # beside the map, clear of the legend above it
    )
    return fig


def points(coords: np.ndarray, name: str, marker: dict):
    """One WebGL marker trace of map points [n, 2]."""
    import plotly.graph_objects as go

    return go.Scattergl(x=coords[:, 0], y=coords[:, 1], mode="markers", name=name, marker=marker)


def latent_map(
    coords: np.ndarray,
    labels: np.ndarray,
    errors: np.ndarray,
    color_by: str = "class",
    ids: np.ndarray | None = None,
    height: int = 620,
    uirevision: str = "map",
    class_names=CLASS_NAMES,
):
    """WebGL scatter of a 2-D map: coords [N, 2], labels int [N] (indices into ``class_names``), errors
    (reconstruction MSE) [N].

    Every point carries ``customdata = [global row id, error]``: a selected point names its row
    whatever trace it is in. ``color_by``: "class" (one trace per class, legend with class names)
    or "error" (one trace, continuous colour scale capped at the 99th percentile).
    """
    import plotly.graph_objects as go

    if color_by not in COLOR_MODES:
        raise ValueError(f"color_by == {color_by!r}, must be one of {COLOR_MODES}.")
    coords = np.asarray(coords, dtype=np.float32)
    n = len(coords)
    if coords.shape != (n, 2) or len(labels) != n or len(errors) != n:
        raise ValueError(f"coords {coords.shape}, labels {len(labels)}, errors {len(errors)}: need [N, 2], N, N.")
    ids = np.arange(n) if ids is None else np.asarray(ids)
    custom = np.column_stack([ids, errors]).astype(np.float32)
    size = 4 if n <= 20_000 else 2.5
    hover = "item %{customdata[0]:.0f}<br>%{meta}<br>MSE %{customdata[1]:.4f}<extra></extra>"
    fig = go.Figure()
    if color_by == "class":
        for c, name in enumerate(class_names):
            m = labels == c
            color = CLASS_COLORS[c % len(CLASS_COLORS)]
            trace = points(coords[m], name, dict(size=size, color=color, opacity=0.75))
            fig.add_trace(trace.update(meta=name, customdata=custom[m], hovertemplate=hover))
    else:
        cmax = float(np.percentile(errors, 99)) if n else 1.0
        names = np.asarray(class_names)[np.asarray(labels)]
        fig.add_trace(
            go.Scattergl(
                x=coords[:, 0],
                y=coords[:, 1],
                mode="markers",
                name="reconstruction error",
                customdata=custom,
                text=names,
                hovertemplate=hover.replace("%{meta}", "%{text}"),
                marker=dict(
                    size=size,
                    color=errors,
                    colorscale=ERROR_SCALE,
                    cmin=0.0,
                    cmax=cmax,
                    opacity=0.8,
                    colorbar=dict(
                        title="MSE",
                        thickness=10,
                        orientation="h",
                        x=0,
                        xanchor="left",
                        y=1.0,
                        yanchor="bottom",
                        len=0.5,
                    ),
                ),  # where the legend is
            )
        )
    return _map_layout(fig, height, uirevision, show_legend=color_by == "class")


def marker_trace(xy: np.ndarray, name: str, symbol="star", size=18, color="#111111", line=False) -> dict:
    """A trace (as a plain dict) drawing points [M, 2] (or one [2]) over a map, e.g. a generated point.

    WebGL ("scattergl"), like the map's dots: Plotly draws every WebGL trace above every SVG one, so an SVG marker
    would hide under the dots; among WebGL traces the later one draws on top.
    """
    xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
    return dict(
        type="scattergl",
        x=xy[:, 0].tolist(),
        y=xy[:, 1].tolist(),
        name=name,
        hoverinfo="name",
        showlegend=False,
        mode="lines+markers" if line else "markers",
        line=dict(color=color, width=1.5, dash="dot"),
        marker=dict(symbol=symbol, size=size, color=color, line=dict(width=1.5, color="white")),
    )


def overlay(base: dict, traces: list[dict], **layout):
    """A figure of ``base`` (a valid figure's ``to_dict()``, left unchanged) plus ``traces`` drawn over it, and
    layout updates.

    Skips plotly's validation: a validated copy of a 10k-point map costs ~150 ms, this ~1 ms, which keeps a
    slider that moves a marker interactive. Only trusted input belongs here: ``base`` came from a valid figure,
    the traces from ``marker_trace`` (WebGL, so that they draw above the map's WebGL dots).
    """
    import plotly.graph_objects as go

    return go.Figure({"data": [*base["data"], *traces], "layout": {**base["layout"], **layout}}, _validate=False)


def generator_map(base: dict, star_xy, path_xy=None, height: int = 480, star_name: str = "generated"):
    """The Generator's map: ``base`` (a class-coloured ``latent_map`` as a dict) with its class legend, the
    interpolation path [M, 2] (if any) over the dots and the latent point's star [2] over everything."""
    traces = [] if path_xy is None else [marker_trace(path_xy, "interpolation", "circle", 7, line=True)]
    traces.append(marker_trace(star_xy, star_name, "star", 20))
    # Room above the plot for the legend's rows (five classes a row in a narrow column).
    margin = {**base["layout"].get("margin", {}), "t": 70}
    return overlay(base, traces, height=height, showlegend=True, margin=margin)


def overlaid_curves(
    histories: Mapping[str, Sequence[Mapping]],
    titles: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    height: int = 340,
):
    """The runs' loss curves overlaid: one panel per loss unit (MSE, nats), a colour per run; validation solid,
    training dotted, a star on the kept epoch."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    titles, units = titles or {}, units or {}
    panels = list(dict.fromkeys(units.get(n, "loss") for n in histories)) or ["loss"]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[f"loss ({u})" for u in panels])
    for i, name in enumerate(histories):
        col = panels.index(units.get(name, "loss")) + 1
        rows = [r for r in histories[name] if "epoch" in r]
        epochs = [r["epoch"] for r in rows]
        color = class_color(i)
        label = titles.get(name, name)
        for key, dash, shown in (("val_loss", None, True), ("train_loss", "dot", False)):
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[r.get(key) for r in rows],
                    name=label if shown else f"{label} (train)",
                    legendgroup=name,
                    showlegend=shown,
                    mode="lines",
                    line=dict(color=color, dash=dash),
                ),
                row=1,
                col=col,
            )
        val = [(r.get("val_loss"), r["epoch"]) for r in rows if r.get("val_loss") is not None]
        if val:
            best_loss, best_epoch = min(val)
            fig.add_trace(
                go.Scatter(
                    x=[best_epoch],
                    y=[best_loss],
                    legendgroup=name,
                    showlegend=False,
                    mode="markers",
                    marker=dict(symbol="star", size=11, color=color, line=dict(width=1)),
                    hovertemplate=f"{label}: kept epoch %{{x}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="epoch", title_standoff=8, row=1, col=col)
    fig.update_yaxes(type="log", nticks=5, tickformat=".3~g", automargin=True)
    fig.update_xaxes(nticks=6, automargin=True)
    fig.update_layout(
        height=height,
        margin=dict(l=60, r=20, t=60, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.15, x=0),
        plot_bgcolor="white",
        font=dict(size=13),
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eee")
    fig.update_yaxes(showgrid=True, gridcolor="#eee")
    return fig


def snapshot_map(
    coords: np.ndarray,
    labels: np.ndarray,
    errors: np.ndarray,
    ids: np.ndarray,
    ranges: tuple[tuple[float, float], tuple[float, float]],
    color_by: str = "class",
    trail: np.ndarray | None = None,
    class_names=CLASS_NAMES,
    height: int = 560,
):
    """One snapshot's map (``latent_map``) on fixed axis ``ranges`` (every frame's, so the map holds still while
    the points move), with a followed item's ``trail`` [T, 2] (its places up to this frame) drawn over it."""
    fig = latent_map(coords, labels, errors, color_by, ids, height, "training", class_names)
    (x0, x1), (y0, y1) = ranges
    fig.update_layout(xaxis=dict(range=[x0, x1], autorange=False), yaxis=dict(range=[y0, y1], autorange=False))
    if trail is not None and len(trail):
        path = marker_trace(trail, "followed item's path", "circle", 6, line=True)
        fig = overlay(fig.to_dict(), [path, marker_trace(trail[-1], "followed item", "star", 20)])
    return fig


def curves_at_epoch(history, epoch: int | None, title: str = "", unit: str = "loss", height: int = 300):
    """A run's loss curves (``overlaid_curves``, growing while it trains) with ``epoch`` marked by a line."""
    fig = overlaid_curves({"run": history}, {"run": title or "validation"}, {"run": unit}, height=height)
    if epoch is not None:
        fig.add_vline(x=epoch, line=dict(color="#888888", dash="dash", width=1))
    return fig


# ---- compression and clustering

FAMILY_STYLE = {  # colour per rate–distortion curve, from the class palette
    "dense": CLASS_COLORS[0],
    "sparse": CLASS_COLORS[2],
    "vae": CLASS_COLORS[4],
    "denoising": CLASS_COLORS[6],
    "PCA-10": CLASS_COLORS[8],
    "PCA-32": CLASS_COLORS[9],
    "jpeg": CLASS_COLORS[1],
    "webp": CLASS_COLORS[3],
}


def rd_figure(rows: list[dict], height: int = 520):
    """Rate–distortion chart of ``compress``'s rows: bytes per image (log) vs mean test PSNR, one line per method;
    PNG as a vertical line, the bar as a shaded box, and what sparsity saves against dense as arrows."""
    import plotly.graph_objects as go

    from .commands.compress import BAR, HEADLINE_BITS, sparse_savings

    fig = go.Figure()
    curves: dict[str, list[dict]] = {}
    for r in rows:
        key = r["method"] if r["family"] in ("autoencoder", "pca") else r["family"]
        curves.setdefault(key, []).append(r)
    for key, pts in curves.items():
        if key == "png":
            b = pts[0]["bytes"]
            fig.add_vline(x=b, line_dash="dot", line_color="#555")
            fig.add_annotation(x=np.log10(b), y=38, text=f"PNG, lossless: {b:.0f} B", showarrow=False, xanchor="right")
            continue
        pts = sorted(pts, key=lambda r: r["bytes"])
        label = {"jpeg": "JPEG (optimised)", "webp": "WebP"}.get(key, key)
        text = [f"{r['bits']} bit" if r.get("bits") else f"q{r['quality']}" for r in pts]
        fig.add_trace(
            go.Scatter(
                x=[r["bytes"] for r in pts],
                y=[r["psnr"] for r in pts],
                mode="lines+markers",
                name=label,
                text=text,
                line=dict(color=FAMILY_STYLE.get(key), dash="dash" if key.startswith("PCA") else None),
                hovertemplate="%{fullData.name} %{text}<br>%{x:.2f} bytes/image<br>%{y:.2f} dB<extra></extra>",
            )
        )
    fig.add_shape(
        type="rect",
        x0=1,
        x1=BAR["max_bytes"],
        y0=BAR["min_psnr"],
        y1=BAR["min_psnr"] + 6,
        line=dict(width=0),
        fillcolor="rgba(89,161,79,0.12)",
        layer="below",
    )
    fig.add_annotation(
        x=np.log10(2),
        y=BAR["min_psnr"] + 6,
        xanchor="left",
        yanchor="top",
        text=f"bar: ≤ {BAR['max_bytes']:g} B, ≥ {BAR['min_psnr']:g} dB",
        showarrow=False,
    )
    shown = 0
    for s in sparse_savings(rows):  # the tutorial's claim: sparsity saves bytes at the same quality
        saved = s["saved_same_psnr"]
        if saved is None or s["bits"] not in HEADLINE_BITS:
            continue
        verdict = f"saves {saved:.2f} B" if saved >= 0 else f"costs {-saved:.2f} B more"
        fig.add_annotation(
            x=np.log10(s["sparse_bytes"]),
            y=s["sparse_psnr"],
            ax=90,
            ay=-70 - 30 * shown,
            # A callout, not a curve: a thin grey pointer to a boxed label (a coloured arrow reads as a data line).
            arrowhead=6,
            arrowsize=1,
            arrowwidth=1,
            arrowcolor="#9ca3af",
            standoff=4,
            font=dict(color="#374151", size=13),
            bgcolor="rgba(255,255,255,0.9)",
            bordercolor="#d1d5db",
            borderpad=3,
            text=f"sparse {s['bits']} bit {verdict} vs dense at {s['sparse_psnr']:.1f} dB",
            xanchor="left",
        )
        shown += 1
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        plot_bgcolor="white",
        font=dict(size=14),  # ticks and legend legible on a projector (Plotly's default ticks come out at ~9 px)
        xaxis=dict(
            tickfont=dict(size=13),
            tickvals=[2, 5, 10, 20, 50, 100, 200, 500],  # labelled decades and halves only: no 9 px minor labels
            type="log",
            title="bytes per image, everything a receiver needs (log scale)",
            gridcolor="#eee",
            range=[np.log10(2), np.log10(800)],
        ),
        yaxis=dict(
            title="mean PSNR on the 10k test images (dB)", gridcolor="#eee", range=[12, 40], tickfont=dict(size=13)
        ),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, title=None),
    )
    return fig


def confusion_figure(y_true, y_pred, height: int = 520):
    """Heatmap clusters (rows, ordered by matched class) × classes (columns), counts as text.

    Meant for a full-width column: horizontal class labels, one per column (two-word names on two lines), and
    counts at 13 px, legible at 800-1920 px wide.
    """
    import plotly.graph_objects as go

    from .clustering import cluster_summary, contingency

    m = contingency(y_true, y_pred)
    summary = cluster_summary(y_true, y_pred)
    order = [r["cluster"] for r in summary]
    z = m[order][:, : len(CLASS_NAMES)]
    ylabels = [f"{r['cluster']} → {r['class_name']}" for r in summary]
    classes = list(CLASS_NAMES[: z.shape[1]])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=classes,
            y=ylabels,
            colorscale="Blues",
            text=z,
            texttemplate="%{text}",
            textfont=dict(size=13),
            hovertemplate="cluster %{y}<br>class %{x}: %{z} images<extra></extra>",
            showscale=False,
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        font=dict(size=13),
        yaxis=dict(autorange="reversed", title="cluster → matched class", automargin=True),
        xaxis=dict(
            title="true class",
            side="top",
            tickangle=0,
            tickmode="array",
            tickvals=classes,
            ticktext=[c.replace(" ", "<br>").replace("/", "/<br>") for c in classes],
            automargin=True,
        ),
    )
    return fig


def cluster_map_figure(coords: np.ndarray, assignments: np.ndarray, names: dict[int, str], height: int = 560):
    """WebGL scatter of a 2-D map [N, 2] coloured by cluster, one trace per cluster, named by ``names``."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, c in enumerate(names):
        sel = assignments == c
        marker = dict(size=3, color=CLASS_COLORS[i % len(CLASS_COLORS)], opacity=0.7)
        fig.add_trace(points(coords[sel], names[c], marker).update(hoverinfo="name"))
    axis = dict(showgrid=False, zeroline=False, showticklabels=False, title=None)
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        xaxis=axis,
        yaxis=dict(axis, scaleanchor="x", scaleratio=1),
        plot_bgcolor="white",
        legend=dict(itemsizing="constant", title=None),
    )
    return fig
