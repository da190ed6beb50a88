"""Self-describing checkpoints: ``config.json`` + ``model.safetensors`` (+ ``metrics.json``, ``history.json``).

One loader serves every model class (``load_checkpoint``, as diffusers' ``from_pretrained``): it reads
``config.json``, looks its ``model_class`` up in ``MODEL_CLASSES`` (the autoencoders and the judge; more
are added with ``register_model_class``, never imported because a file names them), rebuilds the config
strictly, builds the model on the meta device and loads the weights strictly. Weights are only ever read
with safetensors: nothing is unpickled. ``load_model(name)`` and ``load_judge()`` are that loader applied
to a variant's folder and to ``judge/``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import torch
from torch import nn

from .judge import Judge
from .models import REGISTRY, Autoencoder, config_from_dict, config_to_dict, get_variant

FORMAT_VERSION = 1
ENV_VAR = "LATENT_EXPLORER_CHECKPOINTS"
RUNS_ENV_VAR = "LATENT_EXPLORER_RUNS"
CONFIG, WEIGHTS, METRICS, HISTORY = "config.json", "model.safetensors", "metrics.json", "history.json"
JUDGE = "judge"  # the judge's checkpoint folder, beside the variants'


class CheckpointError(RuntimeError):
    """A checkpoint is missing or damaged; the message names the file and the command that recreates it."""


REPO = Path(__file__).resolve().parent.parent  # where the shipped checkpoints and the default runs folder are


def default_root() -> Path:
    """``$LATENT_EXPLORER_CHECKPOINTS`` or the repository's ``checkpoints/``."""
    return Path(os.environ.get(ENV_VAR) or REPO / "checkpoints")


def runs_root() -> Path:
    """Where ``train --dataset … --name …`` writes runs: ``$LATENT_EXPLORER_RUNS`` or the repository's ``runs/``."""
    return Path(os.environ.get(RUNS_ENV_VAR) or REPO / "runs")


def is_run_key(name: str) -> bool:
    """``"<dataset>/<run>"`` (a run of one's own, or a shipped extra run) rather than a shipped variant's folder."""
    return "/" in name


def checkpoint_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of checkpoint ``name``: a shipped variant's or the judge's (``<root>/<name>``), or a run's
    (``"<dataset>/<run>"``: the first of ``root``, the runs root and the checkpoints root that holds it; where none
    does, where it would be trained)."""
    if not is_run_key(name):
        return Path(root) if root is not None and Path(root).name == name else Path(root or default_root()) / name
    roots = [Path(root)] if root is not None else [runs_root(), default_root()]
    for r in roots:
        if (r / name / CONFIG).is_file() or (r / name / WEIGHTS).is_file():
            return r / name
    return roots[0] / name


def stored_variant(name: str, root=None) -> str | None:
    """The registry variant a checkpoint folder says it holds (config.json's "variant"), or None if unreadable."""
    if not is_run_key(name):
        return name
    try:
        variant = json.loads((checkpoint_dir(name, root) / CONFIG).read_text()).get("variant")
    except (OSError, ValueError, AttributeError):
        return None
    return variant if isinstance(variant, str) else None


def fix_command(name: str) -> str:
    """The command that (re)creates checkpoint folder ``name``: a variant's, a run's or the judge's."""
    if name == JUDGE:
        return "python -m explorer train-judge"
    if is_run_key(name):
        dataset, run = name.split("/", 1)
        variant = stored_variant(name) or "VARIANT"
        return f"python -m explorer train --dataset {dataset} --variant {variant} --name {run} --overwrite"
    return f"python -m explorer train --variant {name}"


# Model classes a checkpoint may name in its "model_class", by class name. Each class has a ``config_class``
# (a frozen dataclass) and takes an instance of it as its one constructor argument.
# Built in: every variant's class and the judge's.
MODEL_CLASSES: dict[str, type[nn.Module]] = {
    cls.__name__: cls for cls in (*(v.model_class for v in REGISTRY.values()), Judge)
}


def register_model_class(cls: type[nn.Module]) -> type[nn.Module]:
    """Make checkpoints whose config.json says ``"model_class": cls.__name__`` loadable; returns ``cls``."""
    config_class = getattr(cls, "config_class", None)
    if not isinstance(config_class, type):
        raise TypeError(f"{cls.__name__} has no config_class: a loadable model class is built from a config dataclass.")
    known = MODEL_CLASSES.get(cls.__name__)
    if known is not None and known is not cls:
        raise ValueError(f"model_class {cls.__name__!r} is already registered (by {known.__module__}).")
    MODEL_CLASSES[cls.__name__] = cls
    return cls


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, remembered per (path, mtime, size): weights are hashed once per process."""
    s = Path(path).stat()
    return _file_sha256(str(path), s.st_mtime_ns, s.st_size)


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_checkpoint(
    model: torch.nn.Module,
    directory: Path,
    header: dict,
    model_config: dict,
    *,
    recipe: dict | None = None,
    training: dict | None = None,
    history: list[dict] | None = None,
    dataset_sha256: str | None = None,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Write ``model.safetensors`` (floating tensors stored as ``dtype``), ``config.json`` (``header`` first,
    then the architecture, recipe and provenance) and ``history.json``; drop metrics of older weights."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    weights_tmp = directory / f".{WEIGHTS}.tmp"
    state = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in model.state_dict().items()
    }
    save_file(state, str(weights_tmp), metadata={k: str(v) for k, v in header.items()})
    os.replace(weights_tmp, directory / WEIGHTS)  # atomic: a reader sees the old weights or the new, never half
    config = {
        "format_version": FORMAT_VERSION,
        **header,
        "model_class": type(model).__name__,
        "model": model_config,
        "parameters": sum(p.numel() for p in model.parameters()),
        "storage_dtype": str(dtype).removeprefix("torch."),
        "recipe": recipe or {},
        "training": training or {},
        "dataset_sha256": dataset_sha256,
        "weights_sha256": file_sha256(directory / WEIGHTS),
    }
    write_json_atomic(directory / CONFIG, config)
    if history is not None:
        write_json_atomic(directory / HISTORY, history, indent=1)
    (directory / METRICS).unlink(missing_ok=True)  # metrics describe old weights: evaluate again
    return directory


def write_json_atomic(path: Path, data, indent: int = 2) -> Path:
    """Write JSON through a temporary file and a rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=indent) + "\n")
    os.replace(tmp, path)
    return path


def save_checkpoint(
    model: nn.Module, name: str, root: str | os.PathLike | None = None, *, variant: str | None = None, **provenance
) -> Path:
    """Write folder ``name``: a shipped variant's (its config says "variant": name), a run's (``"<dataset>/<run>"``,
    of registry ``variant``; its config says "variant", "dataset" and "run") or the judge's: ``config.json``,
    ``model.safetensors`` and ``history.json``. ``provenance``: ``write_checkpoint``'s keywords (``recipe``,
    ``training``, ``history``, ``dataset_sha256``, ``dtype``)."""
    if name == JUDGE:
        header = {}
    elif is_run_key(name):
        if variant is None:
            raise ValueError(f"save_checkpoint({name!r}): a run needs its registry variant (variant=...).")
        get_variant(variant)
        dataset, run = name.split("/", 1)
        header = {"variant": variant, "dataset": dataset, "run": run}
    else:
        get_variant(name)
        header = {"variant": name}
    directory = checkpoint_dir(name, root) if not is_run_key(name) else Path(root or runs_root()) / name
    return write_checkpoint(model, directory, header, config_to_dict(model.config), **provenance)


def read_json_or_fix(path: Path, fix: str, error: type[Exception] = CheckpointError) -> dict:
    """Read a stored JSON object (a checkpoint's or an artefact's); a missing, unreadable or non-object file raises
    ``error`` naming the file and ending with the command ``fix``."""
    if not path.is_file():
        raise error(f"{path} is missing. Recreate it with `{fix}`.")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"{path} is not valid JSON ({e}). Recreate it with `{fix}`.") from e
    if not isinstance(data, dict):
        raise error(f"{path} should hold a JSON object. Recreate it with `{fix}`.")
    return data


def read_json(path: Path, name: str) -> dict:
    """Read a checkpoint folder's JSON file, with errors that name the file and the fix."""
    return read_json_or_fix(path, fix_command(name))


def read_config(name: str, root=None) -> dict:
    return read_json(checkpoint_dir(name, root) / CONFIG, name)


def load_checkpoint(
    directory: str | os.PathLike,
    device: str | torch.device = "cpu",
    *,
    expect: dict | None = None,
    fix: str | None = None,
) -> nn.Module:
    """Load any checkpoint folder: the class its config.json names (``MODEL_CLASSES``), rebuilt from its config,
    weights loaded strictly, in eval mode (float32).

    ``expect``: config keys that must hold these values (e.g. ``{"variant": "vae"}``). ``fix``: the command that
    recreates the folder (default: derived from the folder's name). Every error is a CheckpointError that names
    the file and ends with the fix.
    """
    directory = Path(directory)
    model, fix = _meta_model(directory, expect, fix)
    load_weights_strict(model, directory / WEIGHTS, directory / CONFIG, fix)
    return model.to(device).eval()


def _meta_model(directory: Path, expect: dict | None, fix: str | None) -> tuple[nn.Module, str]:
    """The model config.json describes, built on the meta device (shapes, no weights), and the fix sentence."""
    command = fix or fix_command(directory.name)
    fix = f"Recreate it with `{command}` (or restore it with `git checkout -- {directory}`)."
    config = read_json_or_fix(directory / CONFIG, command)
    for key, value in (expect or {}).items():
        if config.get(key) != value:
            what = "variant" if key == "variant" else key
            raise CheckpointError(f"{directory / CONFIG} describes {what} {config.get(key)!r}, not {value!r}. {fix}")
    class_name = config.get("model_class")
    cls = MODEL_CLASSES.get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        raise CheckpointError(
            f"{directory / CONFIG}: model_class == {class_name!r} is not a known model class; known: "
            f"{', '.join(sorted(MODEL_CLASSES))}. {fix}"
        )
    try:
        model_config = config_from_dict(cls.config_class, config.get("model"))
        with torch.device("meta"):  # shapes only: the weights come from the file, so no random init is paid for
            return cls(model_config), fix
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{directory / CONFIG} has an invalid model config ({e}). {fix}") from e


def load_model(name: str, root: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Autoencoder:
    """The checkpoint of variant ``name`` (or of run ``"<dataset>/<run>"``), rebuilt from its config, in eval mode
    (float32). A run of a variant that is not registered yet loads the installed plugins (entry points) first; its
    config.json only ever names a registered variant, never a module to import."""
    directory, expect, fix = _resolve(name, root)
    return load_checkpoint(directory, device, expect=expect, fix=fix)


def check_model(name: str, root: str | os.PathLike | None = None) -> None:
    """What ``load_model`` checks, short of reading the tensors: the config, the class, and every tensor's name and
    shape in the weights file's header (milliseconds, where loading five models takes ~0.1 s). CheckpointError as
    ``load_model`` raises it; a NaN in the weights is found when the model is loaded."""
    directory, expect, fix = _resolve(name, root)
    model, fix = _meta_model(directory, expect, fix)
    _check_tensor_shapes(_header_shapes(directory / WEIGHTS, fix), model, directory / WEIGHTS, directory / CONFIG, fix)


def _resolve(name: str, root) -> tuple[Path, dict, str]:
    """Run or variant ``name`` -> (its folder, what its config must say, the command that recreates it)."""
    directory, fix = checkpoint_dir(name, root), fix_command(name)
    if is_run_key(name):
        config = read_json_or_fix(directory / CONFIG, fix)
        stored = config.get("variant")
        if config.get("kind") == "codes":
            raise CheckpointError(
                f"{name} holds imported codes (import-codes), not a model: it has a map and similar items from its "
                "stored codes, but nothing encodes or decodes. Ask the run for its capabilities before loading it."
            )
        if isinstance(stored, str) and stored not in REGISTRY:
            from .plugins import load_plugins

            load_plugins()  # the installed plugins' entry points (once per process); never a module the file names
        if not isinstance(stored, str) or stored not in REGISTRY:
            raise CheckpointError(
                f"{directory / CONFIG} names variant {stored!r}, which is not registered here; known: "
                f"{', '.join(REGISTRY)}. If it is a plugin's, start with `--plugin MODULE` or install its package."
            )
        variant = REGISTRY[stored]
        expect = {"model_class": variant.model_class.__name__}
    else:
        variant = get_variant(name)
        expect = {"variant": name, "model_class": variant.model_class.__name__}
    return directory, expect, fix


def load_judge(root: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Judge:
    """The judge of ``<root>/judge``, rebuilt from its config, weights loaded strictly, in eval mode (float32)."""
    return load_checkpoint(
        checkpoint_dir(JUDGE, root), device, expect={"model_class": Judge.__name__}, fix=fix_command(JUDGE)
    )


def weights_hash(name: str, root=None) -> str:
    """SHA-256 of a checkpoint folder's weights file (a variant's or the judge's): the key of every artefact
    computed from it; CheckpointError naming the command that recreates it when it is missing."""
    path = checkpoint_dir(name, root) / WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"{path} is missing. Recreate it with `{fix_command(name)}`.")
    return file_sha256(path)


def _header_shapes(weights: Path, fix: str) -> dict[str, tuple[int, ...]]:
    """Every tensor's name -> shape, from a safetensors file's header alone (no tensor is read)."""
    from safetensors import SafetensorError, safe_open

    if not weights.is_file():
        raise CheckpointError(f"{weights} is missing. {fix}")
    try:
        with safe_open(str(weights), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (safe_open is no dict)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{weights} is not a readable safetensors file ({e}). {fix}") from e


def _check_tensor_shapes(shapes: dict, model: nn.Module, weights: Path, config_path: Path, fix: str) -> None:
    expected = model.state_dict()
    missing, unexpected = set(expected) - set(shapes), set(shapes) - set(expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{weights} does not match {config_path}: missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]}. {fix}"
        )
    for key, shape in shapes.items():
        needed = tuple(expected[key].shape)
        if tuple(shape) != needed:
            raise CheckpointError(f"{weights}: tensor {key} has shape {tuple(shape)}, the config needs {needed}. {fix}")


def load_weights_strict(model: torch.nn.Module, weights: Path, config_path: Path, fix: str) -> torch.nn.Module:
    """Load ``weights`` (safetensors only: never a pickle) into ``model`` strictly: every tensor present, of the
    config's shape and finite; else a CheckpointError naming the file and ending with ``fix``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not weights.is_file():
        raise CheckpointError(f"{weights} is missing. {fix}")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{weights} is not a readable safetensors file ({e}). {fix}") from e
    _check_tensor_shapes({k: t.shape for k, t in state.items()}, model, weights, config_path, fix)
    for key, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{weights}: tensor {key} holds NaN or infinite values. {fix}")
    expected = model.state_dict()
    dtype = {k: v.dtype for k, v in expected.items()}
    # assign: take the loaded tensors as the parameters (the model may have been built on the meta device)
    model.load_state_dict({k: v.to(dtype[k]).contiguous() for k, v in state.items()}, strict=True, assign=True)
    return model
