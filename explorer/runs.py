"""Runs: a trained model (or imported codes) on one dataset, found by its key. No torch, no streamlit.

A run's **key** is one name everywhere (CLI value, folder, URL value):

- a shipped variant's name (``dense``, ``vae``, …): the checkpoints the tutorial's study ships, on Fashion-MNIST,
  in ``checkpoints/<variant>/``;
- ``"<dataset>/<run>"``: a run of one's own, in ``<runs>/<dataset>/<run>/`` (``runs/`` or ``$LATENT_EXPLORER_RUNS``,
  see ``explorer.checkpoint.runs_root``), or an extra shipped run in ``checkpoints/<dataset>/<run>/``
  (e.g. ``fashion-mnist/vae-beta4``).

Every run folder holds what ``explorer.checkpoint`` writes (``config.json`` naming its variant, dataset and
run; ``model.safetensors``; ``history.json``) and what ``prepare`` adds beside it (``metrics.json``, the maps).
A run of imported codes (``import-codes``) holds ``codes.npz`` instead of weights: a map and neighbours, no model.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import CONFIG, WEIGHTS, checkpoint_dir, default_root, is_run_key, runs_root
from .data import FASHION_MNIST
from .models import REGISTRY, VARIANTS

CODES = "codes.npz"  # an imported-codes run's vectors (ids, codes)
NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")  # a run's name: a folder name and a URL value


class RunError(ValueError):
    """A run that does not exist or cannot be used; the message lists what there is or says what to do."""


def check_run_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RULE.match(name):
        raise RunError(
            f"run name {name!r}: use lower-case letters, digits, '.', '-' and '_' (up to 64, starting with a letter "
            "or digit), e.g. --name dense-64."
        )
    return name


def run_key(dataset: str, name: str) -> str:
    return f"{dataset}/{name}"


@dataclass(frozen=True)
class Run:
    key: str
    dataset: str
    name: str
    directory: Path
    variant: str | None  # the registry entry it was trained as; None for imported codes
    kind: str = "model"  # "model" or "codes"
    shipped: bool = False

    @property
    def entry(self):
        """Its registry ``Variant`` (None for codes, or a variant whose plugin is not loaded)."""
        return REGISTRY.get(self.variant) if self.variant else None

    @property
    def capabilities(self) -> frozenset[str]:
        entry = self.entry
        return entry.capabilities if entry is not None else frozenset()

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def has_map(self) -> bool:
        """A map and similar items: codes that make their image (a decoder), or imported codes."""
        return self.kind == "codes" or self.can("decoder")

    @property
    def title(self) -> str:
        entry = self.entry
        if self.shipped and not is_run_key(self.key) and entry is not None:
            return entry.title
        what = (
            "imported codes" if self.kind == "codes" else (entry.title if entry else f"unknown variant {self.variant}")
        )
        return f"{self.name} ({what})"

    @property
    def job(self) -> str:
        """What the run's model does, in words sized to its own data and code (shown under its title)."""
        if self.kind == "codes":
            return "codes computed elsewhere, imported: a map and similar items, no model"
        entry = self.entry
        if entry is None:
            return f"variant {self.variant}, not registered here (pass --plugin MODULE)"
        if self.shipped and not is_run_key(self.key):
            return entry.job
        model = self.read_config().get("model")
        model = model if isinstance(model, dict) else {}
        shape = model.get("image_shape") or (1, 28, 28)
        code = model.get("code_dim", model.get("latent_dim"))
        side = "×".join(str(s) for s in shape[1:]) + (f"×{shape[0]}" if shape[0] != 1 else "")
        text = f"{entry.title} on {self.dataset}: {side} images ({math.prod(shape)} values)"
        if isinstance(code, int):
            text += f" to a {code}-number code"
        if model.get("beta", 1) != 1:
            text += f", β = {model['beta']:g}"
        return text

    @property
    def trained(self) -> bool:
        return (self.directory / (CODES if self.kind == "codes" else WEIGHTS)).is_file()

    def read_config(self) -> dict:
        try:
            data = json.loads((self.directory / CONFIG).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def _from_folder(key: str, directory: Path, shipped: bool) -> Run | None:
    try:
        config = json.loads((directory / CONFIG).read_text())
    except (OSError, ValueError):
        config = None
    if not isinstance(config, dict):
        return None
    dataset, name = key.split("/", 1)
    kind = "codes" if config.get("kind") == "codes" else "model"
    variant = config.get("variant") if isinstance(config.get("variant"), str) else None
    return Run(key, dataset, name, directory, variant, kind, shipped)


def shipped_variant_run(name: str, root=None) -> Run:
    return Run(name, FASHION_MNIST, name, checkpoint_dir(name, root), name, "model", True)


def _scan(root: Path, shipped: bool) -> list[Run]:
    out = []
    if not root.is_dir():
        return out
    for config in sorted(root.glob(f"*/*/{CONFIG}")):
        directory = config.parent
        dataset, name = directory.parent.name, directory.name
        if dataset.startswith(".") or name.startswith("."):
            continue
        run = _from_folder(run_key(dataset, name), directory, shipped)
        if run is not None:
            out.append(run)
    return out


def list_runs(dataset: str | None = None, runs: str | os.PathLike | None = None, checkpoints=None) -> list[Run]:
    """Every run, shipped first (the registry's variants, then extra shipped runs), then one's own by key;
    only those on ``dataset`` if given. A key found in both roots is the runs root's (as ``checkpoint_dir``)."""
    shipped_root = Path(checkpoints or default_root())
    found: dict[str, Run] = {}
    if dataset in (None, FASHION_MNIST):
        for name in VARIANTS:  # the built-in variants' shipped folders, listed even when missing ("not trained")
            found[name] = shipped_variant_run(name, checkpoints)
    own = {r.key: r for r in _scan(Path(runs or runs_root()), shipped=False)}
    extra = {r.key: r for r in _scan(shipped_root, shipped=True) if r.key not in own}
    for r in [*extra.values(), *sorted(own.values(), key=lambda r: r.key)]:
        if dataset is None or r.dataset == dataset:
            found[r.key] = r
    return list(found.values())


def find_run(key: str, runs=None, checkpoints=None) -> Run:
    """The run of ``key`` (a shipped variant's name or ``"<dataset>/<run>"``); RunError listing the runs there are."""
    if not isinstance(key, str) or not key:
        raise RunError("no run named: give a run key, e.g. dense or digits/dense-64.")
    if not is_run_key(key):
        if key in VARIANTS:
            return shipped_variant_run(key, checkpoints)
    else:
        dataset, name = key.split("/", 1)
        for root, shipped in ((Path(runs or runs_root()), False), (Path(checkpoints or default_root()), True)):
            if (root / key / CONFIG).is_file():
                run = _from_folder(key, root / key, shipped)
                if run is not None:
                    return run
    known = ", ".join(r.key for r in list_runs(runs=runs, checkpoints=checkpoints))
    raise RunError(
        f"no run {key!r}; there are: {known}. Train one with `python -m explorer train --dataset … --name …`."
    )


def dataset_of(key: str, runs=None, checkpoints=None) -> str:
    return find_run(key, runs, checkpoints).dataset


def prepare_command(key: str) -> str:
    return f"python -m explorer prepare {key}"


def import_codes_command(key: str, root=None) -> str:
    """The command that (re)makes imported-codes run ``key`` from the file its config.json names."""
    dataset, name = key.split("/", 1)
    try:
        source = json.loads((checkpoint_dir(key, root) / CONFIG).read_text()).get("source") or "FILE"
    except (OSError, ValueError, AttributeError):
        source = "FILE"
    return f"python -m explorer import-codes {shlex.quote(source)} --dataset {dataset} --name {name} --overwrite"


def is_loopback(address: str | None) -> bool:
    """Whether a server bound to ``address`` is reachable from this machine only (``None`` or ``""``: every
    interface, as Streamlit binds when ``server.address`` is unset)."""
    import ipaddress

    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve beyond this machine
        return False


def dashboard_write_refusal(folder: str | os.PathLike, address: str | None, checkpoints=None) -> str | None:
    """Why the dashboard may not write into ``folder`` (a run's missing map or metrics, made on first open), or None.

    The rule: the dashboard writes only into runs of one's own, never under the checkpoint root (the shipped study),
    and only while its server listens on loopback (``server.address``), so that nobody on a network can make it
    write. Otherwise the page names the command that makes the file.
    """
    root = Path(checkpoints or default_root()).resolve()
    if Path(folder).resolve().is_relative_to(root):
        return f"the dashboard never writes into the checkpoints ({root})"
    if not is_loopback(address):
        where = address or "every interface"
        return f"this server listens beyond this machine (server.address {where!r}): the dashboard writes nothing"
    return None
