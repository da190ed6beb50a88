"""Page: a run's training seen over time, live while it trains: its snapshots' map epoch by epoch (aligned by
``prepare``), the loss curves, the ten reconstructions and a generative run's samples at that epoch.

The run's files are polled by a fragment (every ``POLL_S`` while the run trains), so a new epoch shows without a
page reload. Logic: ``explorer.snapshots`` (reading a run, half-written or not), ``explorer.alignment`` (layouts),
``explorer.training_view`` (frame, followed item, trail), ``explorer.figures`` (the figures).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from explorer import alignment, checkpoint, figures, images, selection, snapshots, training_view
from explorer.ui import common

POLL_S = 2.0  # how often a training run's files are read again: a new epoch shows within this (and a redraw)
PLAY_S = 1.0  # one frame a second while playing
RUN_KEY = "training_run"
FRAME_KEY = "training_frame"
PLAYING_KEY = "_training_playing"
FOLLOW_KEY = "_training_follow"
SEEN_KEY = "_training_seen"  # (run, frames it had): a viewer on the newest frame keeps seeing the newest
COLOR_LABELS = {"class": "class", "cluster": "cluster", "error": "reconstruction error"}
COLOR_MODES = ("class", "cluster", "error")


@st.cache_data(max_entries=8, show_spinner=False)
def _frames(directory: str, key: str):
    """The run's frames and their layouts (aligned if ``prepare`` stored them fresh, else the PCA stand-in)."""
    frames = snapshots.load_frames(Path(directory))
    if frames is None:
        return None, None, False
    stored = alignment.stored_layouts(Path(directory), frames.epochs)
    aligned = stored is not None
    layouts = stored if aligned else alignment.quick_layouts(frames.codes)
    return frames, layouts, aligned


def page() -> None:
    common.header(
        "Training",
        "How the latent space formed: each dot is one of a fixed set of test images, placed as the model encoded it "
        "at each snapshot epoch. Scrub or play through the epochs; click a dot to follow that item through time. "
        "A run that is training now updates by itself.",
    )
    dataset = common.current_dataset()
    watched = snapshots.watched_runs(dataset, checkpoint.runs_root(), common.root())
    if not watched:
        st.info(
            f"No run on **{dataset}** was trained with snapshots yet. Train one (snapshots are on by default), and "
            "watch it here while it trains:"
        )
        st.code(f"python -m explorer train --dataset {dataset} --variant dense --name dense-snap", language="bash")
        st.stop()
    by_key = {r.key: r for r in watched}
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    with c1:
        if st.session_state.get(RUN_KEY) not in by_key:
            st.session_state[RUN_KEY] = watched[0].key
        key = st.selectbox("Run", list(by_key), key=RUN_KEY, format_func=lambda k: by_key[k].label)
    items = common.items()
    modes = [m for m in COLOR_MODES if m != "class" or items.has_labels]
    with c2:
        common.default("training_color", modes[0])
        if st.session_state["training_color"] not in modes:
            st.session_state["training_color"] = modes[0]
        st.radio("Colour by", modes, key="training_color", horizontal=True, format_func=COLOR_LABELS.get)
    run = by_key[key]
    live = run.progress is not None and run.progress.status == "running"
    playing = bool(st.session_state.get(PLAYING_KEY))
    every = PLAY_S if playing else POLL_S if live else None
    _BODIES[every](key, str(run.directory), live)


def _body(key: str, directory_text: str, live: bool) -> None:
    directory = Path(directory_text)
    progress = snapshots.read_progress(directory)
    if live and (progress is None or progress.status != "running"):
        st.rerun()  # the run ended: the whole page again (the picker's label, no more polling)
    history = snapshots.read_history(directory)
    _progress_row(progress, history)
    frames, layouts, aligned = _frames(directory_text, alignment.frames_key(directory))
    if frames is None:
        st.info("No snapshot yet: the first comes at the end of the first epoch.")
        _curves(history, None, progress)
        return
    n = len(frames)
    if st.session_state.get(PLAYING_KEY):
        st.session_state[FRAME_KEY] = training_view.next_frame(int(st.session_state.get(FRAME_KEY, n - 1)), n)
    else:
        seen_key, seen = st.session_state.get(SEEN_KEY, (None, None))
        before = seen if seen_key == key else None
        asked = st.session_state.get(FRAME_KEY) if seen_key == key else None
        st.session_state[FRAME_KEY] = training_view.shown_frame(asked, n, before)
    st.session_state[SEEN_KEY] = (key, n)
    c1, c2 = st.columns([5, 1], vertical_alignment="bottom")
    with c1:
        index = st.select_slider(
            "Epoch",
            options=list(range(n)),
            key=FRAME_KEY,
            format_func=lambda i: str(int(frames.epochs[i])),
            disabled=n < 2,
        )
    with c2:
        playing = bool(st.session_state.get(PLAYING_KEY))
        if st.button("Pause" if playing else "Play", key="training_play", icon=":material/pause:" if playing
                     else ":material/play_arrow:", disabled=n < 2, width="stretch"):  # fmt: skip
            st.session_state[PLAYING_KEY] = not playing
            st.rerun()  # the whole page: the fragment's pace changes
    st.caption(training_view.frame_caption(frames.epochs, index, frames.losses))
    left, right = st.columns([3, 2], gap="large")
    with left:
        _map(frames, layouts, aligned, index, key)
    with right:
        _curves(history, int(frames.epochs[index]), progress)
        _images(frames, index)


def _progress_row(progress: snapshots.Progress | None, history: list[dict]) -> None:
    if progress is None:
        st.caption(f"Trained before progress files ({len(history)} epochs in its history).")
        return
    if progress.status == "running":
        st.progress(min(progress.epoch / max(progress.epochs, 1), 1.0), text=progress.line)
    elif progress.status == "finished":
        st.success(progress.line, icon=":material/check_circle:")
    else:
        st.warning(f"{progress.line}: the checkpoint (if any) holds the best epoch.", icon=":material/stop_circle:")


@st.cache_data(show_spinner=False, max_entries=8)
def _clusters(key: str, epochs: tuple[int, ...], _codes: np.ndarray) -> np.ndarray:
    """One k-means per run and set of frames (``_codes``: not hashed, named by ``key`` and ``epochs``)."""
    return training_view.final_clusters(_codes)


def _map(frames, layouts: np.ndarray, aligned: bool, index: int, key: str) -> None:
    items = common.items()
    labels = items.labels[frames.ids] if items.has_labels and frames.ids.max() < len(items.labels) else None
    color_by = st.session_state.get("training_color", "class")
    names = items.class_names
    if color_by == "cluster":  # k-means of the last frame's codes, drawn like classes
        labels, color_by = _clusters(key, tuple(int(e) for e in frames.epochs), frames.codes), "class"
        names = [f"cluster {c + 1}" for c in range(int(labels.max()) + 1)]
    elif labels is None:
        labels, color_by = np.zeros(len(frames.ids), np.int64), "error"
    follow = st.session_state.get(FOLLOW_KEY)
    follow = follow if follow in set(frames.ids.tolist()) else None  # e.g. kept from another run
    path = None if follow is None else training_view.trail(layouts, frames.ids, follow, index)
    fig = figures.snapshot_map(
        layouts[index],
        labels,
        frames.errors[index],
        frames.ids,
        training_view.frame_ranges(layouts),
        color_by,
        path,
        names,
    )
    ids = frames.ids

    def follow_clicked() -> None:  # before the rerun: the new trail is drawn at once
        clicked = selection.selected_ids(st.session_state.get("training_map"))
        st.session_state[FOLLOW_KEY] = training_view.followed_item(st.session_state.get(FOLLOW_KEY), clicked, ids)

    st.plotly_chart(
        fig,
        key="training_map",
        on_select=follow_clicked,
        selection_mode="points",
        config={"displaylogo": False, "scrollZoom": False},
    )
    if aligned:
        st.caption("Aligned UMAP layout of the snapshots (made by `prepare`).")
    else:
        st.caption("A quick PCA layout of each snapshot. For the aligned UMAP map, once training has ended:")
        st.code(f"python -m explorer prepare {key}", language="bash")
    if follow is not None:
        a, b = st.columns([1, 3], vertical_alignment="center")
        with a:
            st.image(images.upscale(images.to_uint8(items.images[follow]), 3), caption=f"item {follow}")
        with b:
            st.caption(f"Following item {follow} ({items.class_name(follow)}): the line is its path up to this epoch.")
            st.button("Stop following", key="training_unfollow", icon=":material/close:", on_click=_unfollow)


def _unfollow() -> None:
    st.session_state[FOLLOW_KEY] = None


def _curves(history: list[dict], epoch: int | None, progress: snapshots.Progress | None) -> None:
    if not history:
        st.caption("No epoch finished yet.")
        return
    unit = progress.loss_unit if progress is not None else "loss"
    st.plotly_chart(figures.curves_at_epoch(history, epoch, unit=unit), key="training_curves")


def _images(frames, index: int) -> None:
    st.markdown("**Reconstructions** of ten fixed test items at this epoch")
    st.image(images.mosaic(frames.recon[index], cols=5, scale=2))
    if frames.samples is not None:
        st.markdown("**Samples** from the same sixteen latent points at this epoch")
        st.image(images.mosaic(frames.samples[index], cols=8, scale=2))


# One fragment per pace: still, polling a training run, playing (a fragment's pace is fixed when it is made).
_BODIES = {every: st.fragment(_body, run_every=every) for every in (None, POLL_S, PLAY_S)}
