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


def latent_map(
    coords: np.ndarray,
    labels: np.ndarray,
    errors: np.ndarray,
    color_by: str = "class",
    ids: np.ndarray | None = None,
    height: int = 620,
    uirevision: str = "map",
):
    """WebGL scatter of a 2-D map: coords [N, 2], labels int [N], errors (reconstruction MSE) [N].

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
        for c, name in enumerate(CLASS_NAMES):
            m = labels == c
            fig.add_trace(
                go.Scattergl(
                    x=coords[m, 0],
                    y=coords[m, 1],
                    mode="markers",
                    name=name,
                    meta=name,
                    customdata=custom[m],
                    marker=dict(size=size, color=CLASS_COLORS[c], opacity=0.75),
                    hovertemplate=hover,
                )
            )
    else:
        cmax = float(np.percentile(errors, 99)) if n else 1.0
        names = np.asarray(CLASS_NAMES)[np.asarray(labels)]
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
    """A trace (as a plain dict) drawing points [M, 2] (or one [2]) over a map, e.g. a generated point."""
    xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
    return dict(
        type="scatter",
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
    """A figure of ``base`` (a valid figure's ``to_dict()``, left unchanged) plus ``traces`` and layout updates.

    Skips plotly's validation: a validated copy of a 10k-point map costs ~150 ms, this ~1 ms, which keeps a
    slider that moves a marker interactive. Only trusted input belongs here: ``base`` came from a valid figure,
    the traces from ``marker_trace``.
    """
    import plotly.graph_objects as go

    return go.Figure({"data": [*base["data"], *traces], "layout": {**base["layout"], **layout}}, _validate=False)


def training_curves(histories: Mapping[str, Sequence[Mapping]], titles: Mapping[str, str] | None = None, height=300):
    """Train and validation loss per epoch, one panel per variant (their losses have different units)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(histories)
    titles = titles or {}
    fig = make_subplots(rows=1, cols=max(len(names), 1), subplot_titles=[titles.get(n, n) for n in names])
    for col, name in enumerate(names, start=1):
        rows = [r for r in histories[name] if "epoch" in r]
        epochs = [r["epoch"] for r in rows]
        for key, label, color in (("train_loss", "train", TRAIN_COLOR), ("val_loss", "validation", VAL_COLOR)):
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[r.get(key) for r in rows],
                    name=label,
                    legendgroup=label,
                    showlegend=col == 1,
                    mode="lines+markers" if len(rows) < 3 else "lines",
                    line=dict(color=color),
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
                    name="best epoch",
                    legendgroup="best",
                    showlegend=col == 1,
                    mode="markers",
                    marker=dict(symbol="star", size=11, color=VAL_COLOR, line=dict(width=1)),
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_yaxes(type="log")
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.12, x=0),
        plot_bgcolor="white",
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eee")
    fig.update_yaxes(showgrid=True, gridcolor="#eee")
    return fig
