"""What every page shares: cached loading of data, models and maps; the variant picker; error display.

Models, the dataset and projections are loaded once per process (``st.cache_resource``, shared by all
sessions, never mutated). Cache keys include each file's modification time and size, so a checkpoint
retrained while the server runs is picked up on the next rerun. A variant that fails to load is a
value (``Loaded.error``), not an exception: pages show it with the command that fixes it.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from explorer import checkpoint, evaluate, projection, views
from explorer.data import DatasetError, load_fashion_mnist
from explorer.models import REGISTRY, VARIANTS, variants_with

# Variants whose code alone makes the image: only they have maps and meaningful neighbours.
MAPPED = variants_with("decoder")

# Item ids, one space for every page (see explorer.views): 0..9,999 test images, 10,000..69,999 training images.
N_TEST, N_TRAIN = views.N_TEST, views.N_TRAIN
all_rows_to_items, items_to_all_rows = views.all_rows_to_items, views.items_to_all_rows

# Widget values that survive a visit to another page (Streamlit drops a widget's state when a run
# does not draw it; writing the value back through Session State each run keeps it).
PERSISTENT_KEYS = (
    "map_color", "map_all", "item_index", "k", "query_class", "noise_amount",
    *(f"z{i}" for i in range(10)), "from_item_index", "interp_a", "interp_b", "interp_steps",
    "live_decode", "interp_mode", "grid_plane", "grid_n", "grid_i", "grid_j", "grid_span", "grid_through_point",
    "grid_item_a", "grid_item_b", "grid_item_c", "cl_method", "cl_all",
)  # fmt: skip


def keep_widget_state() -> None:
    for key in PERSISTENT_KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


@st.cache_resource(show_spinner=False)
def configure_torch() -> int:
    """One torch thread per process: on 2 shared cores, 2 threads run 3-4x slower under contention."""
    import torch

    torch.set_num_threads(1)
    return torch.get_num_threads()


@st.cache_resource(show_spinner=False)
def start_memory_trimmer() -> bool:
    """Once per process: threads share few malloc arenas, and freed memory goes back to the OS every few seconds
    (``explorer.ui.memory``)."""
    from explorer.ui import memory

    memory.limit_arenas()
    return memory.start_trimmer() is not None


def default(key: str, value) -> None:
    """Seed a widget's value through Session State (widgets then take no ``value=``, avoiding Streamlit's warning)."""
    if key not in st.session_state:
        st.session_state[key] = value


# ------------------------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class Items:
    """All 70k images in item-id order (test first, then train)."""

    images: np.ndarray  # uint8 [70000, 28, 28]
    labels: np.ndarray  # int64 [70000]
    test_images: np.ndarray  # uint8 [10000, 28, 28] (a view of ``images``)
    test_labels: np.ndarray


@st.cache_resource(show_spinner="Loading Fashion-MNIST…")
def _items(data_dir: str | None) -> Items:
    data = load_fashion_mnist(data_dir)
    images = np.concatenate([data.test.images, data.train.images])
    labels = np.concatenate([data.test.labels, data.train.labels])
    return Items(images, labels, images[:N_TEST], labels[:N_TEST])


def items() -> Items:
    """The dataset, or a page explaining how to install it (and the run stops)."""
    try:
        return _items(os.environ.get("FASHION_MNIST_DIR"))
    except DatasetError as e:
        st.title("Fashion-MNIST is not installed")
        st.error(str(e), icon=":material/warning:")
        st.markdown(
            "The dashboard needs the four Fashion-MNIST IDX files. Either install the Debian package:\n\n"
            "```\napt-get install dataset-fashion-mnist\n```\n\n"
            "or point the dashboard to a directory that holds them, then restart it:\n\n"
            "```\nFASHION_MNIST_DIR=/path/to/fashion-mnist streamlit run dashboard.py\n```"
        )
        st.stop()


# ----------------------------------------------------------------------------------- models and maps


@dataclass(frozen=True)
class Loaded:
    """A model or projection, or why it could not be loaded and the commands that fix it."""

    value: object = None
    error: str | None = None
    fixes: tuple[str, ...] = field(default_factory=tuple)
    recomputable: bool = False  # a map that is only missing or stale: the page may compute it once

    @property
    def ok(self) -> bool:
        return self.error is None


def root() -> str:
    return str(checkpoint.default_root())


def file_stamp(path: Path):
    """(mtime, size) of a file, None if absent: a cache key that changes when the file does."""
    try:
        s = path.stat()
        return s.st_mtime_ns, s.st_size
    except OSError:
        return None


def _stamps(name: str, *files: str) -> tuple:
    d = checkpoint.checkpoint_dir(name, root())
    return tuple(file_stamp(d / f) for f in files)


def model_stamps(name: str) -> tuple:
    """The cache key of a variant's model (its config and weights files): pass it with ``root()`` to ``_model``."""
    return _stamps(name, checkpoint.CONFIG, checkpoint.WEIGHTS)


def map_stamps(name: str, split: str = "test") -> tuple:
    """The cache key of a variant's map (its weights and projection files): pass it to ``_projection``."""
    return _stamps(name, checkpoint.WEIGHTS, f"projection-{split}.npz")


@st.cache_resource(show_spinner="Loading the model…", max_entries=16)
def _model(name: str, root_dir: str, stamps: tuple) -> Loaded:
    try:
        return Loaded(checkpoint.load_model(name, root_dir))
    except Exception as e:  # CheckpointError, or damage the loader did not foresee: a message, not a traceback
        error = str(e) if isinstance(e, checkpoint.CheckpointError) else f"not loadable ({type(e).__name__}: {e})"
        then_map = (projection.fix_command(name),) if REGISTRY[name].can("decoder") else ()
        return Loaded(error=error, fixes=(checkpoint.fix_command(name), *then_map))


@st.cache_resource(show_spinner="Loading the map…", max_entries=16)
def _projection(name: str, split: str, root_dir: str, stamps: tuple) -> Loaded:
    try:
        return Loaded(projection.load_projection(name, split, root_dir))
    except checkpoint.CheckpointError as e:
        return Loaded(error=str(e), fixes=(checkpoint.fix_command(name), projection.fix_command(name, split)))
    except projection.ProjectionError as e:
        return Loaded(error=str(e), fixes=(projection.fix_command(name, split),), recomputable=e.recomputable)
    except Exception as e:  # as in _model
        return Loaded(
            error=f"its map could not be loaded ({type(e).__name__}: {e})", fixes=(projection.fix_command(name, split),)
        )


def model(name: str) -> Loaded:
    return _model(name, root(), model_stamps(name))


_COMPUTING = threading.Lock()  # one UMAP at a time per process, whichever session asked first


def proj(name: str, split: str = "test", compute: bool = True) -> Loaded:
    """The variant's map; a missing or stale one is computed once (unless ``compute`` is False), with a visible
    progress indicator, and saved."""
    loaded = _projection(name, split, root(), map_stamps(name, split))
    if loaded.ok or not compute or not loaded.recomputable or not model(name).ok:
        return loaded
    minutes = "about a minute" if split == "test" else "several minutes"
    with _COMPUTING, st.status(f"Computing the {REGISTRY[name].title}'s map once ({minutes})…") as status:
        again = _projection(name, split, root(), map_stamps(name, split))
        if again.ok:  # another session computed it while this one waited
            status.update(label="Map ready", state="complete", expanded=False)
            return again
        try:
            status.write("Encoding the images and fitting UMAP (random_state fixed, so the map is reproducible)…")
            data = load_fashion_mnist(os.environ.get("FASHION_MNIST_DIR"))
            projection.compute_projection(name, data, split, root(), model(name).value)
        except Exception as e:  # noqa: BLE001 - shown on the page with the command, never a traceback
            status.update(label=f"Could not compute the map ({type(e).__name__}: {e})", state="error")
            return loaded
        status.update(label="Map computed and saved beside the checkpoint", state="complete", expanded=False)
    return _projection(name, split, root(), map_stamps(name, split))


@st.cache_data(show_spinner=False, max_entries=64)
def _reconstructions(name: str, root_dir: str, stamps: tuple, ids: tuple[int, ...]) -> np.ndarray:
    loaded = _model(name, root_dir, stamps)
    return views.reconstruct(loaded.value, items().images[list(ids)])


def reconstructions(name: str, ids) -> np.ndarray:
    """A loadable variant's reconstructions of items ``ids`` -> uint8 [n, 28, 28] (cached per weights and ids)."""
    return _reconstructions(name, root(), model_stamps(name), tuple(map(int, ids)))


def file_status(name: str) -> str | None:
    """A cheap look at the files only: None if the checkpoint and its test map exist, else a short note."""
    config, weights, test_map = _stamps(name, checkpoint.CONFIG, checkpoint.WEIGHTS, "projection-test.npz")
    if config is None or weights is None:
        return "not trained"
    if test_map is None and REGISTRY[name].can("decoder"):
        return "no map"
    return None


def show_unavailable(name: str, loaded: Loaded, what: str = "") -> None:
    """An error naming the variant, the problem and the commands that fix it (the run goes on)."""
    st.error(f"**{REGISTRY[name].title}** (`{name}`) is unavailable{what}: {loaded.error}", icon=":material/warning:")
    st.code("\n".join(loaded.fixes), language="bash")


def require_model(name: str):
    loaded = model(name)
    if not loaded.ok:
        show_unavailable(name, loaded)
        st.stop()
    return loaded.value


def require_projection(name: str, split: str = "test"):
    loaded = proj(name, split)
    if not loaded.ok:
        show_unavailable(name, loaded, " on the map")
        st.stop()
    return loaded.value


@st.cache_data(show_spinner=False, max_entries=64)
def _read_json(path: str, stamp) -> object:
    return json.loads(Path(path).read_text())


def _json_file(path: Path):
    """A JSON file's content, or None when it is missing or unreadable."""
    stamp = file_stamp(path)
    if stamp is None:
        return None
    try:
        return _read_json(str(path), stamp)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


@st.cache_data(show_spinner=False, max_entries=64)
def _metrics(name: str, root_dir: str, stamps: tuple) -> Loaded:
    try:
        return Loaded(evaluate.load_metrics(name, root_dir))
    except (evaluate.MetricsError, checkpoint.CheckpointError) as e:
        return Loaded(error=str(e), fixes=(evaluate_command(name),))


def metrics(name: str) -> dict | None:
    """A variant's metrics.json if it describes the current weights, else None (``metrics_status`` says why)."""
    return metrics_status(name).value


def metrics_status(name: str) -> Loaded:
    return _metrics(name, root(), _stamps(name, checkpoint.METRICS, checkpoint.WEIGHTS))


@st.cache_data(show_spinner=False, max_entries=16)
def _baselines(root_dir: str, stamp) -> Loaded:
    try:
        return Loaded(evaluate.load_baselines(root_dir))
    except evaluate.MetricsError as e:
        return Loaded(error=str(e), fixes=(evaluate_command(),))


def baselines() -> dict | None:
    """checkpoints/baselines.json, or None until ``python -m explorer evaluate`` has written it."""
    loaded = _baselines(root(), file_stamp(Path(root()) / evaluate.BASELINES))
    return loaded.value if isinstance(loaded.value, dict) else None


def history(name: str) -> list[dict] | None:
    data = _json_file(checkpoint.checkpoint_dir(name, root()) / checkpoint.HISTORY)
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else None


def history_stamps() -> tuple:
    return tuple(_stamps(v, checkpoint.HISTORY)[0] for v in VARIANTS)


def evaluate_command(name: str | None = None) -> str:
    return "python -m explorer evaluate" + (f" --variant {name}" if name else "")


# ---------------------------------------------------------------------------------------- widgets


def _remember(memory: str) -> None:
    st.session_state[memory] = st.session_state["variant"]


def variant_picker(options=VARIANTS, default: str | None = None, memory: str = "_variant", label="Autoencoder"):
    """The ``variant`` selectbox; the choice is remembered (per ``memory``) across pages."""
    options = list(options)
    chosen = st.session_state.get(memory)
    st.session_state["variant"] = chosen if chosen in options else (default or options[0])

    def fmt(name: str) -> str:
        note = file_status(name)
        return REGISTRY[name].title + (f" — {note}" if note else "")

    return st.selectbox(label, options, key="variant", format_func=fmt, on_change=_remember, args=(memory,))


def header(title: str, caption: str) -> None:
    st.title(title)
    st.caption(caption)


# ------------------------------------------------------------------------------------------- maps


@st.cache_resource(show_spinner="Drawing the map…", max_entries=24)
def _map_figure(name: str, split: str, color_by: str, root_dir: str, stamps: tuple):
    from explorer import figures

    p = _projection(name, split, root_dir, stamps).value
    ids = np.arange(len(p.labels)) if split == "test" else all_rows_to_items(len(p.labels))
    return figures.latent_map(p.coords, p.labels, p.recon_mse, color_by, ids=ids, uirevision=f"{name}/{split}")


def map_figure(name: str, split: str = "test", color_by: str = "class"):
    """The variant's map (cached and shared: never mutate it)."""
    require_projection(name, split)
    return _map_figure(name, split, color_by, root(), map_stamps(name, split))


@st.cache_resource(show_spinner=False, max_entries=24)
def _map_dict(name: str, split: str, color_by: str, root_dir: str, stamps: tuple) -> dict:
    return _map_figure(name, split, color_by, root_dir, stamps).to_dict()


def map_dict(name: str, split: str = "test", color_by: str = "class") -> dict:
    """The variant's map as a plain dict, for ``figures.overlay`` (cached and shared: never mutate it)."""
    require_projection(name, split)
    return _map_dict(name, split, color_by, root(), map_stamps(name, split))


def sidebar_status() -> None:
    """Which variants are ready, in the sidebar (a damaged one says so on every page)."""
    lines = []
    for v in VARIANTS:
        m = model(v)
        note = "unavailable" if not m.ok else ("no map" if v in MAPPED and not proj(v, compute=False).ok else None)
        icon = ":orange[:material/warning:]" if note else ":green[:material/check_circle:]"
        lines.append(f"{icon} {REGISTRY[v].title}" + (f" ({note})" if note else ""))
    st.caption("  \n".join(lines))
    st.caption(f"Checkpoints: `{root()}`")
