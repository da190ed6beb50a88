"""What every page shares: one cached accessor per model, map and artefact; the page header; error display.

Models, the dataset and maps are loaded once per process (``st.cache_resource``, shared by all sessions, never
mutated). Each cache is keyed by the modification time and size of the files it was read from, found here, so a
checkpoint retrained while the server runs is picked up on the next rerun and no page threads a key by hand:

- ``model(name)``, ``proj(name, split)``: a variant's model and map as a ``Loaded`` (``require_*``: or the page stops
  with the error and its fix);
- ``@of_model`` / ``@per_variant``: any function of a variant's model (or of its name, for model and map together),
  cached until the variant's files change;
- ``artefact(load, *args)``: anything a loader reads from the checkpoint root (metrics, the judge, tables), cached
  until a file under the root changes.

A variant or artefact that fails to load is a value (``Loaded.error``), not an exception: pages show it with the
command that fixes it.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from explorer import checkpoint, compare, projection
from explorer.checkpoint import JUDGE, load_judge
from explorer.commands import evaluate
from explorer.commands.evaluate import load_generation
from explorer.data import N_TEST, DatasetError, load_fashion_mnist
from explorer.models import REGISTRY, VARIANTS, variants_with

# Variants whose code alone makes the image: only they have maps and meaningful neighbours.
MAPPED = variants_with("decoder")

# Widget values that survive a visit to another page (Streamlit drops a widget's state when a run
# does not draw it; writing the value back through Session State each run keeps it).
PERSISTENT_KEYS = (
    "map_color",
    "map_all",
    "item_index",
    "k",
    "query_class",
    "noise_amount",
    *(f"z{i}" for i in range(10)),
    "from_item_index",
    "interp_a",
    "interp_b",
    "interp_steps",
    "live_decode",
    "interp_mode",
    "grid_plane",
    "grid_n",
    "grid_i",
    "grid_j",
    "grid_span",
    "grid_through_point",
    "grid_item_a",
    "grid_item_b",
    "grid_item_c",
    "cl_method",
    "cl_all",
)


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
    images, labels = data.all_images, data.all_labels
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


# -------------------------------------------------------------------------------------- file stamps


@dataclass(frozen=True)
class Loaded:
    """A model, map or artefact, or why it could not be loaded and the commands that fix it."""

    value: object = None
    error: str | None = None
    fixes: tuple[str, ...] = field(default_factory=tuple)
    recomputable: bool = False  # a map that is only missing or stale: the page may compute it once

    @property
    def ok(self) -> bool:
        return self.error is None


def root() -> str:
    """The checkpoint root the dashboard reads (``explorer.checkpoint.default_root``)."""
    return str(checkpoint.default_root())


def file_stamp(path: Path):
    """(mtime, size) of a file, None if absent: a cache key that changes when the file does."""
    try:
        s = path.stat()
        return s.st_mtime_ns, s.st_size
    except OSError:
        return None


def _model_files(name: str) -> tuple[Path, ...]:
    d = checkpoint.checkpoint_dir(name, root())
    return d / checkpoint.CONFIG, d / checkpoint.WEIGHTS


def _map_file(name: str, split: str) -> Path:
    return projection.path_for(name, split, root())


def _stamps(*paths: Path) -> tuple:
    return tuple(file_stamp(p) for p in paths)


def _variant_stamps(name: str) -> tuple:
    """Everything a function of the variant may read: its model and both its maps."""
    return _stamps(*_model_files(name), _map_file(name, "test"), _map_file(name, "all"))


def _root_stamps() -> tuple:
    """Every file under the checkpoint root, stamped: a key that changes when any artefact or weight does."""
    out = []
    for directory, _, files in os.walk(root()):
        for f in files:
            path = Path(directory) / f
            out.append((str(path), file_stamp(path)))
    return tuple(sorted(out))


# ----------------------------------------------------------------------------------- models and maps


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
    """The variant's model (cached; reloaded when its files change), or why it is unavailable."""
    return _model(name, root(), _stamps(*_model_files(name)))


def _stored_map(name: str, split: str) -> Loaded:
    return _projection(name, split, root(), _stamps(_model_files(name)[1], _map_file(name, split)))


_COMPUTING = threading.Lock()  # one UMAP at a time per process, whichever session asked first


def proj(name: str, split: str = "test", compute: bool = True) -> Loaded:
    """The variant's map; a missing or stale one is computed once (unless ``compute`` is False), with a visible
    progress indicator, and saved."""
    loaded = _stored_map(name, split)
    if loaded.ok or not compute or not loaded.recomputable or not model(name).ok:
        return loaded
    minutes = "about a minute" if split == "test" else "several minutes"
    with _COMPUTING, st.status(f"Computing the {REGISTRY[name].title}'s map once ({minutes})…") as status:
        again = _stored_map(name, split)
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
    return _stored_map(name, split)


def file_status(name: str) -> str | None:
    """A cheap look at the files only: None if the checkpoint and its test map exist, else a short note."""
    config, weights = _stamps(*_model_files(name))
    if config is None or weights is None:
        return "not trained"
    if file_stamp(_map_file(name, "test")) is None and REGISTRY[name].can("decoder"):
        return "no map"
    return None


def show_unavailable(name: str, loaded: Loaded, what: str = "") -> None:
    """An error naming the variant, the problem and the commands that fix it (the run goes on)."""
    st.error(f"**{REGISTRY[name].title}** (`{name}`) is unavailable{what}: {loaded.error}", icon=":material/warning:")
    st.code("\n".join(loaded.fixes), language="bash")


def require_model(name: str):
    """The variant's model, or its error and fix on the page (and the run stops)."""
    loaded = model(name)
    if not loaded.ok:
        show_unavailable(name, loaded)
        st.stop()
    return loaded.value


def require_projection(name: str, split: str = "test"):
    """The variant's map (computed once if only missing), or its error and fix on the page (and the run stops)."""
    loaded = proj(name, split)
    if not loaded.ok:
        show_unavailable(name, loaded, " on the map")
        st.stop()
    return loaded.value


# ------------------------------------------------------------------------ functions of a variant, cached

_FUNCTIONS: dict[str, Callable] = {}  # "module.qualname" -> the function a cache entry belongs to


@st.cache_data(show_spinner=False, max_entries=128)
def _variant_data(key: str, name: str, stamps: tuple, args: tuple):
    return _FUNCTIONS[key](name, *args)


@st.cache_resource(show_spinner=False, max_entries=64)
def _variant_resource(key: str, name: str, stamps: tuple, args: tuple):
    return _FUNCTIONS[key](name, *args)


def per_variant(fn: Callable | None = None, *, resource: bool = False):
    """Cache ``fn(name, *args)``, a function of variant ``name``'s model and maps, until the variant's files change.

    ``args`` must be hashable values (ints, floats, strings, tuples). The result is copied per call
    (``st.cache_data``), or with ``resource=True`` shared by every session (``st.cache_resource``: never mutate it).
    """
    if fn is None:
        return functools.partial(per_variant, resource=resource)
    key = f"{fn.__module__}.{fn.__qualname__}"
    _FUNCTIONS[key] = fn
    cached = _variant_resource if resource else _variant_data

    @functools.wraps(fn)
    def call(name: str, *args):
        return cached(key, name, _variant_stamps(name), args)

    return call


def of_model(fn: Callable | None = None, *, resource: bool = False):
    """Cache ``fn(model, *args)`` per variant: call the result as ``f(name, *args)`` (see ``per_variant``).

    The variant's model must load (check with ``require_model`` first).
    """
    if fn is None:
        return functools.partial(of_model, resource=resource)

    @functools.wraps(fn)
    def of_name(name: str, *args):
        return fn(model(name).value, *args)

    return per_variant(of_name, resource=resource)


# --------------------------------------------------------------------------------------- artefacts


@st.cache_resource(show_spinner=False, max_entries=32)
def _artefact(key: str, args: tuple, root_dir: str, fixes: tuple, stamps: tuple) -> Loaded:
    try:
        return Loaded(_FUNCTIONS[key](*args, root_dir))
    except Exception as e:  # a missing, stale or damaged file: a message and its fix, never a traceback
        return Loaded(error=str(e) or type(e).__name__, fixes=fixes)


def artefact(load: Callable, *args, fix: str | tuple[str, ...] = ()) -> Loaded:
    """``load(*args, root)``: something read from the checkpoint root (a table, the judge, a variant's metrics),
    cached until a file under the root changes; its error, with ``fix`` (the commands that make it), as a
    ``Loaded``. Shared by every session: never mutate the value."""
    key = f"{load.__module__}.{load.__qualname__}"
    _FUNCTIONS[key] = load
    fixes = (fix,) if isinstance(fix, str) else tuple(fix)
    return _artefact(key, tuple(args), root(), fixes, _root_stamps())


def require_artefact(load: Callable, *args, fix: str, missing: str):
    """``artefact(load, *args)``'s value; else ``missing`` and the reason as a calm notice, with the command that
    makes it, and the page stops there."""
    loaded = artefact(load, *args, fix=fix)
    if not loaded.ok:
        st.info(f"{missing} {loaded.error}")
        st.code(fix, language="bash")
        st.stop()
    return loaded.value


def evaluate_command(name: str | None = None) -> str:
    return "python -m explorer evaluate" + (f" --variant {name}" if name else "")


def metrics_status(name: str) -> Loaded:
    """A variant's metrics.json if it describes the current weights, else why not and the command."""
    return artefact(evaluate.load_metrics, name, fix=evaluate_command(name))


def metrics(name: str) -> dict | None:
    """A variant's metrics.json if it describes the current weights, else None (``metrics_status`` says why)."""
    return metrics_status(name).value


def baselines() -> dict | None:
    """The classical baselines' scores, or None until ``python -m explorer evaluate`` has measured them."""
    loaded = artefact(evaluate.load_baselines, fix=evaluate_command())
    return loaded.value if isinstance(loaded.value, dict) else None


def histories() -> dict[str, list[dict]]:
    """Each trained variant's history (loss per epoch), for the training curves."""
    return artefact(compare.histories).value or {}


def judge() -> Loaded:
    """The shipped judge classifier, or why it is unavailable."""
    return artefact(load_judge, fix=checkpoint.fix_command(JUDGE))


def generation_quality() -> Loaded:
    """The generation-quality measurement of the current VAE and judge, or why there is none."""
    fixes = (checkpoint.fix_command(JUDGE), evaluate_command(variants_with("generative")[0]))
    return artefact(load_generation, fix=fixes)


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


def page_header(
    title: str,
    caption: str,
    variants=VARIANTS,
    *,
    default: str | None = None,
    memory: str = "_variant",
    label: str = "Autoencoder",
    columns=(2, 5),
) -> tuple[str, list]:
    """A page's title and caption, then one row: the variant picker in the first of ``columns`` (relative widths),
    the rest for the page's own controls -> (the chosen variant, those other columns)."""
    header(title, caption)
    first, *rest = st.columns(list(columns), vertical_alignment="bottom")
    with first:
        name = variant_picker(variants, default=default, memory=memory, label=label)
    return name, rest


# ------------------------------------------------------------------------------------------- maps


@per_variant(resource=True)
def _map_figure(name: str, split: str, color_by: str):
    from explorer import figures

    p = _stored_map(name, split).value
    return figures.latent_map(
        p.coords, p.labels, p.recon_mse, color_by, ids=np.arange(len(p.labels)), uirevision=f"{name}/{split}"
    )


def map_figure(name: str, split: str = "test", color_by: str = "class"):
    """The variant's map (cached and shared: never mutate it). A map's row index is the item id."""
    require_projection(name, split)
    return _map_figure(name, split, color_by)


@per_variant(resource=True)
def _map_dict(name: str, split: str, color_by: str) -> dict:
    return _map_figure(name, split, color_by).to_dict()


def map_dict(name: str, split: str = "test", color_by: str = "class") -> dict:
    """The variant's map as a plain dict, for ``figures.overlay`` (cached and shared: never mutate it)."""
    require_projection(name, split)
    return _map_dict(name, split, color_by)


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
