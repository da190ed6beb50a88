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
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import streamlit as st

from explorer import checkpoint, compare, datasets, projection, runs
from explorer.checkpoint import JUDGE, load_judge
from explorer.commands import evaluate
from explorer.commands.evaluate import load_generation
from explorer.data import FASHION_MNIST, DatasetError
from explorer.models import VARIANTS, variants_with

# Every Plotly chart's config: no logo, and the wheel scrolls the page instead of zooming the chart (at 1280 px the
# charts sit mostly below the fold, and a wheel that zooms traps the page); the mode bar's + and - still zoom.
PLOTLY_CONFIG = {"displaylogo": False, "scrollZoom": False}
MAP = "map"  # the capability of a map and similar items: codes that make their image (a decoder), or imported codes
# The shipped variants whose code alone makes the image: only they have maps and meaningful neighbours.
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
    *(f"z{i}" for i in range(16)),
    *(f"pc{k}" for k in range(4)),
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
@st.cache_resource(show_spinner=False)
def configure_threads() -> dict:
    """Once per process: one torch thread and one BLAS thread (``explorer.ui.serve.one_thread_each``). Every session's
    script runs on a thread of its own; on 2 shared cores 2 torch threads ran 3-4x slower under contention, and
    numpy's OpenBLAS worker spun beside each matrix product (~35 ms of a core per Similar-page rerun)."""
    from explorer.ui.serve import one_thread_each

    return one_thread_each()


@st.cache_resource(show_spinner=False)
def start_memory_trimmer() -> bool:
    """Once per process: threads share few malloc arenas, and freed memory goes back to the OS every few seconds
    (``explorer.ui.memory``)."""
    from explorer.ui import memory

    memory.limit_arenas()
    memory.fix_mmap_threshold()
    return memory.start_trimmer() is not None


def default(key: str, value) -> None:
    """Seed a widget's value through Session State (widgets then take no ``value=``, avoiding Streamlit's warning)."""
    if key not in st.session_state:
        st.session_state[key] = value


# ------------------------------------------------------------------------------------------- datasets

DATASET_KEY = "dataset"  # the sidebar's dataset picker


@dataclass(frozen=True)
class Items:
    """A dataset's images in item-id order (its test split first, then train), as every page shows them."""

    name: str
    images: np.ndarray  # uint8 [N, H, W] (greyscale) or [N, C, H, W]
    labels: np.ndarray  # int64 [N]; all 0 when the dataset has no labels (``has_labels`` False)
    n_test: int
    class_names: tuple[str, ...]  # one per label value (("unlabelled",) without labels)
    has_labels: bool = True

    @property
    def test_images(self) -> np.ndarray:
        return self.images[: self.n_test]

    @property
    def test_labels(self) -> np.ndarray:
        return self.labels[: self.n_test]

    @property
    def id_help(self) -> str:
        """What an item id means, for the help of an item picker: "0–9,999: test images; 10,000–69,999: …"."""
        return f"0–{self.n_test - 1:,}: test images; {self.n_test:,}–{len(self.labels) - 1:,}: training images"

    def class_name(self, item: int) -> str:
        return self.class_names[int(self.labels[item])] if self.has_labels else f"item {int(item)}"


def _datasets_root() -> str:
    return str(datasets.default_root())


def _dataset_stamp(name: str) -> tuple:
    if name == FASHION_MNIST:
        return ()
    return _stamps(*(Path(_datasets_root()) / name / f for f in (datasets.DATA, datasets.INFO)))


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=8)
def _items(name: str, data_dir: str | None, datasets_root: str, stamps: tuple) -> Items:
    data = datasets.load_data(name, data_dir=data_dir, root=datasets_root)
    images = np.ascontiguousarray(data.all_images)
    labels = data.all_labels
    if labels is None:
        return Items(name, images, np.zeros(len(images), np.int64), len(data.test), ("unlabelled",), False)
    names = tuple(data.class_names) if data.class_names else tuple(str(c) for c in range(int(labels.max()) + 1))
    return Items(name, images, np.asarray(labels, np.int64), len(data.test), names)


def current_dataset() -> str:
    """The dataset the sidebar's picker names (Fashion-MNIST until another is picked)."""
    return st.session_state.get(DATASET_KEY) or FASHION_MNIST


def items(name: str | None = None) -> Items:
    """A dataset's items (by default the picked one's), or a page explaining how to get it (and the run stops)."""
    name = name or current_dataset()
    try:
        return _items(name, os.environ.get("FASHION_MNIST_DIR"), _datasets_root(), _dataset_stamp(name))
    except DatasetError as e:
        if name != FASHION_MNIST:
            st.title(f"Dataset {name} is not available")
            st.error(str(e), icon=":material/warning:")
            st.markdown(
                f"Register it once (an IDX folder, an image folder or an `.npz`), then reload the page:\n\n"
                f"```\npython -m explorer dataset add {name} PATH\n```\n\n"
                "or pick another dataset in the sidebar."
            )
            st.stop()
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


def _stamps(*paths: Path) -> tuple:
    return tuple(file_stamp(p) for p in paths)


# ------------------------------------------------------------------------------------------- runs
# A page's "name" is a run key (explorer.runs): a shipped variant's name ("vae") or "<dataset>/<run>".


RUNS_TTL_S = 2.0  # how stale the list of runs may be, at most
RUNS_CHECK_S = 0.25  # how often the run folders are looked at: a run added or removed shows within this
_RUN_INDEX: dict[tuple[str, str], list] = {}  # roots -> [listed at, checked at, folder stamps, runs]


def _folder_stamps(*roots: str) -> tuple:
    """The modification times of the roots and their dataset folders: they change when a run folder is added or
    removed (a dozen stat calls)."""
    out = []
    for r in roots:
        try:
            out.append((r, os.stat(r).st_mtime_ns))
            out += [(e.path, e.stat().st_mtime_ns) for e in os.scandir(r) if e.is_dir()]
        except OSError:
            out.append((r, None))
    return tuple(out)


def _run_roots() -> tuple[str, str]:
    """The two folders runs are listed from (the runs root, the checkpoint root): the runs memo's key."""
    return str(checkpoint.runs_root()), root()


def _runs() -> dict[str, runs.Run]:
    """Every run by key: listed again when a run folder appears or goes (looked at every ``RUNS_CHECK_S``), and at
    least every ``RUNS_TTL_S``. A plain memo: a page asks hundreds of times per run, and a Streamlit cache costs a
    millisecond a call. Shared by every session: never mutate it."""
    where = _run_roots()
    now = time.monotonic()
    memo = _RUN_INDEX.get(where)
    if memo is not None and now - memo[1] < RUNS_CHECK_S:
        return memo[3]
    stamps = _folder_stamps(*where)
    if memo is None or stamps != memo[2] or now - memo[0] > RUNS_TTL_S:
        index = {r.key: r for r in runs.list_runs(runs=where[0], checkpoints=where[1])}
        _RUN_INDEX[where] = [now, now, stamps, index]
        return index
    memo[1] = now
    return memo[3]


def list_again_if_missing(key: str | None) -> None:
    """Forget the list of runs when ``key`` (a link's run) is not on it: a run trained a moment ago may be newer than
    the list, which is looked at every ``RUNS_CHECK_S`` only. Costs a listing only for a key not listed."""
    if key and key not in _runs():
        _RUN_INDEX.pop(_run_roots(), None)


def all_runs() -> list[runs.Run]:
    """Every run: the shipped ones, then one's own."""
    return list(_runs().values())


def run(key: str) -> runs.Run:
    """The run of ``key`` (RunError listing the runs there are)."""
    found = _runs().get(key)
    return found if found is not None else runs.find_run(key, checkpoint.runs_root(), root())


def title(key: str) -> str:
    try:
        return run(key).title
    except runs.RunError:
        return key


def job(key: str) -> str:
    """What the run's model is for (its variant's job), or what a run of imported codes is."""
    try:
        r = run(key)
    except runs.RunError:
        return "unknown run"
    return r.job


def takes_uploads(model) -> bool:
    """Whether a picture can be placed: ``explorer.upload`` makes 28×28 greyscale inputs."""
    return tuple(getattr(model, "image_shape", (1, 28, 28))) == (1, 28, 28)


def can(key: str, capability: str) -> bool:
    try:
        r = run(key)
    except runs.RunError:
        return False
    return r.has_map if capability == MAP else r.can(capability)


def runs_with(capability: str | None = None, dataset: str | None = None) -> list[str]:
    """Keys of the runs on ``dataset`` (the picked one by default) that can do ``capability`` ("map": a map and
    similar items; "decoder", "generative", "denoiser"; None: any)."""
    dataset = dataset or current_dataset()
    return [r.key for r in all_runs() if r.dataset == dataset and (capability is None or can(r.key, capability))]


@st.cache_data(ttl=2, show_spinner=False, max_entries=4)
def _dataset_names(datasets_root: str) -> list[str]:
    return datasets.dataset_names(datasets_root)


def dataset_choices() -> list[str]:
    """Fashion-MNIST, every registered dataset, and any other dataset a run names (it may need registering)."""
    names = _dataset_names(_datasets_root())
    return names + sorted({r.dataset for r in all_runs()} - set(names))


def _root_for(key: str) -> str:
    """The root a run's loader is given: the checkpoint root for a shipped variant, else its runs root."""
    if not checkpoint.is_run_key(key):
        return root()
    try:
        return str(run(key).directory.parent.parent)
    except runs.RunError:
        return str(checkpoint.runs_root())


def _model_files(name: str) -> tuple[Path, ...]:
    d = checkpoint.checkpoint_dir(name, _root_for(name))
    return d / checkpoint.CONFIG, d / checkpoint.WEIGHTS


def _map_file(name: str, split: str) -> Path:
    return projection.path_for(name, split, _root_for(name))


def _variant_stamps(name: str) -> tuple:
    """Everything a function of the run may read: its model and both its maps."""
    return _stamps(*_model_files(name), _map_file(name, "test"), _map_file(name, "all"))


def run_stamps(name: str) -> tuple:
    """A cache key for anything computed from run ``name``'s model and maps: changes when one of their files does."""
    return _variant_stamps(name)


def _fixes(name: str, split: str = "test") -> tuple[str, ...]:
    if checkpoint.is_run_key(name):
        return (runs.prepare_command(name) + (" --all" if split == "all" else ""),)
    return (checkpoint.fix_command(name), projection.fix_command(name, split))


# ----------------------------------------------------------------------------------- models and maps


@st.cache_resource(show_spinner="Loading the model…", max_entries=16)
def _model(name: str, root_dir: str, stamps: tuple) -> Loaded:
    try:
        return Loaded(checkpoint.load_model(name, root_dir))
    except Exception as e:  # CheckpointError, or damage the loader did not foresee: a message, not a traceback
        error = str(e) if isinstance(e, checkpoint.CheckpointError) else f"not loadable ({type(e).__name__}: {e})"
        if checkpoint.is_run_key(name):
            return Loaded(error=error, fixes=(checkpoint.fix_command(name),))
        then_map = (projection.fix_command(name),) if can(name, "decoder") else ()
        return Loaded(error=error, fixes=(checkpoint.fix_command(name), *then_map))


@st.cache_resource(show_spinner=False, max_entries=64)
def _model_problem(name: str, root_dir: str, stamps: tuple) -> str | None:
    """Why the checkpoint would not load, from its config and weights header only (``checkpoint.check_model``)."""
    try:
        checkpoint.check_model(name, root_dir)
    except Exception as e:  # as in _model
        return str(e) or type(e).__name__
    return None


@st.cache_resource(show_spinner="Loading the map…", max_entries=16)
def _projection(name: str, split: str, root_dir: str, stamps: tuple) -> Loaded:
    fixes = _fixes(name, split)
    try:
        return Loaded(projection.load_projection(name, split, root_dir))
    except checkpoint.CheckpointError as e:
        return Loaded(error=str(e), fixes=fixes)
    except projection.ProjectionError as e:
        return Loaded(error=str(e), fixes=fixes[-1:], recomputable=e.recomputable)
    except Exception as e:  # as in _model
        return Loaded(error=f"its map could not be loaded ({type(e).__name__}: {e})", fixes=fixes[-1:])


def model(name: str) -> Loaded:
    """The run's model (cached; reloaded when its files change), or why it is unavailable."""
    try:
        r = run(name)
    except runs.RunError as e:
        return Loaded(error=str(e))
    if r.kind == "codes":
        return Loaded(error="it holds imported codes, no model: it has a map and similar items only")
    return _model(name, _root_for(name), _stamps(*_model_files(name)))


def _stored_map(name: str, split: str) -> Loaded:
    return _projection(name, split, _root_for(name), _stamps(_model_files(name)[1], _map_file(name, split)))


_COMPUTING = threading.Lock()  # one UMAP at a time per process, whichever session asked first
SMALL_DATASET = 5_000  # test images: a run on a dataset this small is prepared on first open


def write_refusal(name: str) -> str | None:
    """Why the dashboard may not write the run's missing artefacts itself (``runs.dashboard_write_refusal``: never
    into the checkpoints, nothing at all when served beyond loopback), or None."""
    folder = _model_files(name)[0].parent
    return runs.dashboard_write_refusal(folder, st.get_option("server.address"), root())


def proj(name: str, split: str = "test", compute: bool = True) -> Loaded:
    """The run's map; a missing or stale one is computed once (unless ``compute`` is False, or the dashboard may not
    write it: ``write_refusal``, then the error says why beside the command), with a visible progress indicator,
    and saved beside the run."""
    loaded = _stored_map(name, split)
    if loaded.ok or not compute or not loaded.recomputable or not model(name).ok:
        return loaded
    refusal = write_refusal(name)
    if refusal:
        return replace(loaded, error=f"{loaded.error} (not computed here: {refusal})")
    minutes = "about a minute" if split == "test" else "several minutes"
    with _COMPUTING, st.status(f"Computing the map of {title(name)} once ({minutes})…") as status:
        again = _stored_map(name, split)
        if again.ok:  # another session computed it while this one waited
            status.update(label="Map ready", state="complete", expanded=False)
            return again
        try:
            status.write("Encoding the images and fitting UMAP (random_state fixed, so the map is reproducible)…")
            data = datasets.load_data(run(name).dataset, os.environ.get("FASHION_MNIST_DIR"), _datasets_root())
            projection.compute_projection(name, data, split, _root_for(name), model(name).value)
        except Exception as e:  # noqa: BLE001 - shown on the page with the command, never a traceback
            status.update(label=f"Could not compute the map ({type(e).__name__}: {e})", state="error")
            return loaded
        status.update(label="Map computed and saved beside the run", state="complete", expanded=False)
    return _stored_map(name, split)


def prepare_if_small(name: str) -> None:
    """A run of one's own whose metrics or map are missing, on a small dataset: ``prepare`` it now, once, with a
    status indicator, where the dashboard may write (``write_refusal``). Otherwise, and on a large dataset, the
    page that needs the missing file names the command."""
    if not checkpoint.is_run_key(name) or not model(name).ok:
        return
    if metrics_status(name).ok and (not can(name, MAP) or _stored_map(name, "test").ok):
        return
    if items(run(name).dataset).n_test > SMALL_DATASET:
        return
    refusal = write_refusal(name)
    if refusal:
        st.info(f"**{title(name)}** is not prepared yet, and {refusal}. Prepare it on the server with:")
        st.code(runs.prepare_command(name), language="bash")
        return
    from explorer.commands.prepare import run_prepare

    with _COMPUTING, st.status(f"Preparing {title(name)} once: metrics and map…") as status:
        try:
            run_prepare(name, runs=_root_for(name), datasets_root=_datasets_root())
        except Exception as e:  # noqa: BLE001 - shown with the command
            status.update(label=f"Could not prepare it ({type(e).__name__}: {e})", state="error")
            st.code(runs.prepare_command(name), language="bash")
            return
        status.update(label="Prepared: metrics and map saved beside the run", state="complete", expanded=False)


def file_status(name: str) -> str | None:
    """A cheap look at the files only: None if the checkpoint and its test map exist, else a short note."""
    try:
        r = run(name)
    except runs.RunError:
        return "missing"
    if not r.trained:
        return "not trained"
    if file_stamp(_map_file(name, "test")) is None and r.has_map:
        return "no map"
    return None


def show_unavailable(name: str, loaded: Loaded, what: str = "") -> None:
    """An error naming the run, the problem and the commands that fix it (the run goes on)."""
    st.error(f"**{title(name)}** (`{name}`) is unavailable{what}: {loaded.error}", icon=":material/warning:")
    if loaded.fixes:
        st.code("\n".join(loaded.fixes), language="bash")


def require_model(name: str):
    """The run's model, or its error and fix on the page (and the run stops)."""
    loaded = model(name)
    if not loaded.ok:
        show_unavailable(name, loaded)
        st.stop()
    return loaded.value


def require_projection(name: str, split: str = "test"):
    """The run's map (computed once if only missing), or its error and fix on the page (and the run stops)."""
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


def _root_stamps() -> tuple:
    """The files directly under the checkpoint root and the judge's: what root-level artefacts (baselines, tables,
    generation quality) are read from; a key that changes when one of them does (one directory listing each)."""
    out = []
    for directory in (Path(root()), Path(root()) / JUDGE):
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        out += [(e.path, file_stamp(Path(e.path))) for e in entries if e.is_file()]
    return tuple(out)


@st.cache_resource(show_spinner=False, max_entries=64)
def _artefact(key: str, args: tuple, root_dir: str, fixes: tuple, stamps: tuple) -> Loaded:
    try:
        return Loaded(_FUNCTIONS[key](*args, root_dir))
    except Exception as e:  # a missing, stale or damaged file: a message and its fix, never a traceback
        return Loaded(error=str(e) or type(e).__name__, fixes=fixes)


def artefact(load: Callable, *args, fix: str | tuple[str, ...] = ()) -> Loaded:
    """``load(*args, root)``: something read from the checkpoint root (a table, the judge), cached until a file
    directly under the root changes; its error, with ``fix`` (the commands that make it), as a ``Loaded``.
    Shared by every session: never mutate the value."""
    key = f"{load.__module__}.{load.__qualname__}"
    _FUNCTIONS[key] = load
    fixes = (fix,) if isinstance(fix, str) else tuple(fix)
    return _artefact(key, tuple(args), root(), fixes, _root_stamps())


def run_artefact(load: Callable, name: str, *files: str, fix: str | tuple[str, ...] = ()) -> Loaded:
    """``load(name, root)`` for run ``name`` (its metrics, its history), cached until its weights or one of
    ``files`` in its folder changes."""
    key = f"{load.__module__}.{load.__qualname__}"
    _FUNCTIONS[key] = load
    fixes = (fix,) if isinstance(fix, str) else tuple(fix)
    folder = _model_files(name)[0].parent
    stamps = _stamps(*_model_files(name), *(folder / f for f in files))
    return _artefact(key, (name,), _root_for(name), fixes, stamps)


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
    if name and checkpoint.is_run_key(name):
        return runs.prepare_command(name)
    return "python -m explorer evaluate" + (f" --variant {name}" if name else "")


def metrics_status(name: str) -> Loaded:
    """A run's metrics.json if it describes the current weights, else why not and the command."""
    return run_artefact(evaluate.load_metrics, name, checkpoint.METRICS, fix=evaluate_command(name))


def metrics(name: str) -> dict | None:
    """A run's metrics.json if it describes the current weights, else None (``metrics_status`` says why)."""
    return metrics_status(name).value


def baselines() -> dict | None:
    """The classical baselines' scores, or None until ``python -m explorer evaluate`` has measured them."""
    loaded = artefact(evaluate.load_baselines, fix=evaluate_command())
    return loaded.value if isinstance(loaded.value, dict) else None


def history(name: str) -> list[dict]:
    """A run's training history (one dict per epoch; empty if it has none)."""
    return run_artefact(compare.history, name, checkpoint.HISTORY).value or []


def histories(names=None) -> dict[str, list[dict]]:
    """The histories of ``names`` (the shipped variants by default) that have one, for the training curves."""
    found = {n: history(n) for n in (VARIANTS if names is None else names)}
    return {n: h for n, h in found.items() if h}


def judge() -> Loaded:
    """The shipped judge classifier, or why it is unavailable."""
    return artefact(load_judge, fix=checkpoint.fix_command(JUDGE))


def generation_quality() -> Loaded:
    """The generation-quality measurement of the shipped VAE and judge, or why there is none."""
    fixes = (checkpoint.fix_command(JUDGE), evaluate_command(variants_with("generative")[0]))
    return artefact(load_generation, fix=fixes)


def run_generation(name: str) -> Loaded:
    """Generation quality of generative run ``name``: the shipped VAE's (checkpoints/generation.json) or a run's own
    (its generation.json, written by ``prepare``)."""
    if not checkpoint.is_run_key(name):
        return generation_quality()
    return run_artefact(evaluate.load_run_generation, name, evaluate.GENERATION, fix=runs.prepare_command(name))


# ---------------------------------------------------------------------------------------- widgets


def _remember(memory: str) -> None:
    st.session_state[memory] = st.session_state["variant"]


def variant_picker(options, default: str | None = None, memory: str = "_variant", label="Model"):
    """The ``variant`` selectbox of run keys; the choice is remembered (per ``memory``) across pages."""
    options = list(options)
    chosen = st.session_state.get(memory)
    st.session_state["variant"] = chosen if chosen in options else (default if default in options else options[0])

    def fmt(name: str) -> str:
        note = file_status(name)
        return title(name) + (f" — {note}" if note else "")

    return st.selectbox(label, options, key="variant", format_func=fmt, on_change=_remember, args=(memory,))


def dataset_picker() -> str:
    """The sidebar's dataset selectbox: every page offers the runs on the dataset picked here."""
    options = dataset_choices()
    if st.session_state.get(DATASET_KEY) not in options:
        st.session_state[DATASET_KEY] = FASHION_MNIST
    return st.selectbox("Dataset", options, key=DATASET_KEY, help="The pages show the runs trained on it.")


def grid_label(text: str, width: int = 22, lines: int = 2) -> str:
    """A run's title as an image grid's row label: wrapped at spaces (never mid-word), at most ``lines`` lines."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)[:lines])


def header(title_text: str, caption: str) -> None:
    st.title(title_text)
    st.caption(caption)


def require_fashion_mnist(what: str) -> None:
    """Pages of the shipped study (compression, clustering) are about Fashion-MNIST's shipped models: on another
    dataset, say so and where to look instead (and the run stops)."""
    if current_dataset() != FASHION_MNIST:
        st.info(
            f"{what} is the shipped study of the Fashion-MNIST models. Pick **fashion-mnist** in the sidebar to see "
            "it; the Latent map, Similar items and Compare pages show the runs on this dataset."
        )
        st.stop()


NEEDS = {
    MAP: "a map (an encoder whose codes decode, or imported codes)",
    "decoder": "a decoder",
    "generative": "a generative model (a VAE)",
    "denoiser": "a denoiser",
    None: "a model",
}


def page_header(
    title_text: str,
    caption: str,
    capability: str | None = None,
    *,
    default: str | None = None,
    memory: str = "_variant",
    label: str = "Model",
    columns=(2, 5),
) -> tuple[str, list]:
    """A page's title and caption, then one row: the run picker (the picked dataset's runs that can do
    ``capability``) in the first of ``columns`` (relative widths), the rest for the page's own controls ->
    (the chosen run's key, those other columns). A page no run can serve names the command that trains one."""
    header(title_text, caption)
    options = runs_with(capability)
    if not options:
        dataset = current_dataset()
        st.info(f"No run on **{dataset}** has {NEEDS.get(capability, capability)} yet. Train one, then reload:")
        variant = {"generative": "vae", "denoiser": "unet"}.get(capability, "dense")
        st.code(
            f"python -m explorer train --dataset {dataset} --variant {variant} --name {variant}\n"
            f"python -m explorer prepare {dataset}/{variant}",
            language="bash",
        )
        st.stop()
    first, *rest = st.columns(list(columns), vertical_alignment="bottom")
    with first:
        name = variant_picker(options, default=default, memory=memory, label=label)
    prepare_if_small(name)
    return name, rest


# ------------------------------------------------------------------------------------------- maps


@per_variant(resource=True)
def _map_figure(name: str, split: str, color_by: str):
    from explorer import figures

    p = _stored_map(name, split).value
    names = items(run(name).dataset).class_names
    return figures.latent_map(
        p.coords,
        p.labels,
        p.recon_mse,
        color_by,
        ids=np.arange(len(p.labels)),
        uirevision=f"{name}/{split}",
        class_names=names,
    )


def map_figure(name: str, split: str = "test", color_by: str = "class"):
    """The run's map (cached and shared: never mutate it). A map's row index is the item id."""
    require_projection(name, split)
    return _map_figure(name, split, color_by)


@per_variant(resource=True)
def _map_dict(name: str, split: str, color_by: str) -> dict:
    return _map_figure(name, split, color_by).to_dict()


def map_dict(name: str, split: str = "test", color_by: str = "class") -> dict:
    """The run's map as a plain dict, for ``figures.overlay`` (cached and shared: never mutate it)."""
    require_projection(name, split)
    return _map_dict(name, split, color_by)


def sidebar_status() -> None:
    """Which of the picked dataset's runs are ready, in the sidebar (a damaged one says so on every page)."""
    lines = []
    keys = runs_with(None)
    for v in keys[:12]:
        note = file_status(v)
        if note is None and not checkpoint.is_run_key(v) and _model_problem(v, _root_for(v), _stamps(*_model_files(v))):
            note = "unavailable"  # runs: checked when picked
        icon = ":orange[:material/warning:]" if note else ":green[:material/check_circle:]"
        lines.append(f"{icon} {title(v)}" + (f" ({note})" if note else ""))
    if len(keys) > 12:
        lines.append(f"… and {len(keys) - 12} more runs")
    st.caption("  \n".join(lines) or "No runs on this dataset yet.")
    if runs.is_loopback(st.get_option("server.address")):  # the server's folders are no business of a network
        st.caption(f"Checkpoints: `{root()}`  \nRuns: `{checkpoint.runs_root()}`")


# ------------------------------------------------------------------------ the map component's data


@per_variant(resource=True)
def _map_points(name: str, split: str, labelled: bool) -> dict:
    from explorer import mapdata

    p = _stored_map(name, split).value
    return mapdata.pack_points(p.coords, p.labels if labelled else None, p.recon_mse)


def map_points(name: str, split: str = "test") -> dict:
    """The run's map as binary columns for the map component (``explorer.mapdata.pack_points``; cached and shared:
    never mutate it)."""
    require_projection(name, split)
    return _map_points(name, split, items(run(name).dataset).has_labels)


_ATLAS_BUILDS: dict[tuple, dict] = {}  # (run, split, weights) -> {"thread", "error"}: atlases being made
_ATLAS_LOCK = threading.Lock()


class AtlasPendingError(RuntimeError):
    """The map's atlas is being made in the background; ask again in a moment."""


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_atlas(path: str, sha: str, fix: str, stamp):
    from explorer import atlas

    return atlas.load_atlas(Path(path), sha, fix)


def _atlas(name: str, split: str, sha: str, root_dir: str):
    """The run's stored atlas; if it is missing or stale, it is made once in a background thread (the 70k map's
    takes about a minute on 2 cores) and AtlasPendingError is raised meanwhile, so no page run waits for it."""
    from explorer import atlas

    path, fix = atlas.path_for(name, split, root_dir), atlas.fix_command(name, split, root_dir)
    try:
        return _load_atlas(str(path), sha, fix, file_stamp(path))
    except atlas.AtlasError:
        pass
    key = (name, split, sha)
    with _ATLAS_LOCK:
        job = _ATLAS_BUILDS.get(key)
        if job is not None and job["error"] is not None:
            raise RuntimeError(job["error"])
        if job is None or not job["thread"].is_alive():
            images = items(run(name).dataset).images[: len(_stored_map(name, split).value.coords)]
            loaded = model(name)

            def build(job):
                try:
                    atlas.make_atlas(name, split, images, loaded.value if loaded.ok else None, root_dir)
                except Exception as e:  # noqa: BLE001 - the browser is told the thumbnails are unavailable
                    job["error"] = f"{type(e).__name__}: {e}"

            job = {"error": None}
            job["thread"] = threading.Thread(target=build, args=(job,), name=f"atlas {name} {split}", daemon=True)
            _ATLAS_BUILDS[key] = job
            job["thread"].start()
    raise AtlasPendingError(f"the thumbnails of {name} ({split}) are being made")


def map_atlas(name: str, split: str = "test"):
    """Where the map's thumbnails come from (``map_component.AtlasSource``): the run's atlas, loaded (or built
    once and saved) only when the browser asks for its tiles."""
    from explorer import atlas
    from explorer.ui.map_component import AtlasSource

    p = _stored_map(name, split).value
    data = items(run(name).dataset)
    n = len(p.coords)
    root_dir = _root_for(name)
    sha = p.weights_sha256
    return AtlasSource(
        hash=f"{name}/{split}/{sha[:16]}",
        tiles=atlas.tile_count(n),
        side=atlas.SIDE,
        item_shape=tuple(int(s) for s in data.images.shape[1:]),
        has_recon=model(name).ok,
        load=lambda: _atlas(name, split, sha, root_dir),
    )


_ROUTER: dict = {}  # URL path -> the router's st.Page of this process (set by dashboard.main on every run)


def set_router_pages(pages: dict) -> None:
    _ROUTER.clear()
    _ROUTER.update(pages)


def router_page(url_path: str):
    """The router's page at ``url_path``, for ``st.switch_page``."""
    return _ROUTER[url_path]
