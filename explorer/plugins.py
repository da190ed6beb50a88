"""Variants of one's own: model classes from plugins, registered by name beside the built-in ones.

A plugin is a Python module with a function ``variants() -> list[Variant]`` (or one that calls
``explorer.models.register_variant`` when imported). It is found in one of two ways, and no other:

- the entry-point group ``latent_explorer.variants`` of an installed package (``importlib.metadata``): each entry
  point names a module (its ``variants()`` is called) or a callable returning Variants; loaded automatically;
- ``--plugin MODULE`` (an importable module name, repeatable) on the command line, and after ``--`` in the
  dashboard's start command (``streamlit run dashboard.py -- --plugin MODULE``).

Every variant is checked against the model contract before it joins ``REGISTRY`` (``models.check_variant``: the
methods its capabilities need, a config that survives ``config.json``, and a probe on a zero batch). A plugin that
does not import or breaks the contract gives one ``PluginError`` naming the module and the fix, and registers
nothing: the built-in variants and the other plugins are untouched. A checkpoint names its model only by the
registered variant name; nothing is imported because a file said so (``checkpoint.load_model``).
Nothing here imports torch until a plugin is loaded.
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Iterable
from types import ModuleType

ENTRY_POINT_GROUP = "latent_explorer.variants"
HOOK = "variants"  # a plugin module's function returning its Variants
FLAG = "--plugin"
MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
EXAMPLE = "examples/latent_explorer_example"


class PluginError(ValueError):
    """A plugin that does not import or breaks the model contract; the message names it and the fix."""


class PluginWarning(UserWarning):
    """An installed plugin (an entry point) that could not be loaded; the other variants work."""


_LOADED: dict[str, list[str] | PluginError] = {}  # by source ("module X", "entry point X = Y"): names, or the error
_PROBLEMS: list[str] = []  # the entry points that failed, in this process
_SCANNED = False


# ------------------------------------------------------------------------------------------- argv


def plugins_from_argv(argv: Iterable[str]) -> list[str]:
    """The modules of every ``--plugin M`` / ``--plugin=M`` in ``argv`` (e.g. streamlit's ``sys.argv`` after
    ``--``), in order; PluginError for a ``--plugin`` without a module name."""
    argv, out = list(argv), []
    for i, arg in enumerate(argv):
        if arg == FLAG:
            value = argv[i + 1] if i + 1 < len(argv) else ""
        elif arg.startswith(FLAG + "="):
            value = arg[len(FLAG) + 1 :]
        else:
            continue
        if not value or value.startswith("-"):
            raise PluginError("--plugin needs a module name, e.g. --plugin latent_explorer_example.")
        out.append(value)
    return out


def strip_plugin_args(argv: Iterable[str]) -> list[str]:
    """``argv`` without its ``--plugin M`` / ``--plugin=M`` options."""
    argv, out, skip = list(argv), [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == FLAG:
            skip = True
        elif not arg.startswith(FLAG + "="):
            out.append(arg)
    return out


# ----------------------------------------------------------------------------------------- loading


def _variants_of(obj, where: str) -> list:
    """The Variants a plugin gives: ``obj`` is a module (its ``variants()``) or a callable returning Variants."""
    hook = getattr(obj, HOOK, None) if isinstance(obj, ModuleType) else obj
    if hook is None:
        return []
    if not callable(hook):
        raise PluginError(f"{where}: {HOOK} is not a function; define `def {HOOK}(): return [Variant(...)]`.")
    try:
        got = hook()
    except Exception as e:  # foreign code: whatever it raises is the plugin's fault, reported with its name
        raise PluginError(f"{where}: {HOOK}() raised {type(e).__name__}: {str(e).rstrip('.')}. Fix the plugin.") from e
    from .models import Variant

    got = [got] if isinstance(got, Variant) else got
    if not isinstance(got, list | tuple) or not all(isinstance(v, Variant) for v in got):
        raise PluginError(f"{where}: {HOOK}() must return a list of explorer.models.Variant, got {got!r}.")
    return list(got)


def _register(load, where: str) -> list[str]:
    """Import a plugin with ``load()`` and register its variants, all or nothing -> their names."""
    from . import checkpoint, models

    registry, classes = dict(models.REGISTRY), dict(checkpoint.MODEL_CLASSES)
    try:
        try:
            obj = load()
        except Exception as e:  # an import runs foreign code: any error means the plugin failed to import
            raise PluginError(f"{where} failed to import ({type(e).__name__}: {e}). {_IMPORT_FIX}") from e
        variants = _variants_of(obj, where)
        added_on_import = [n for n in models.REGISTRY if n not in registry]
        if not variants and not added_on_import:
            raise PluginError(
                f"{where} defines no variants: add `def {HOOK}(): return [Variant(...)]` to it (see {EXAMPLE})."
            )
        names = [v.name for v in variants]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise PluginError(f"{where} gives variant name(s) {twice} more than once; give each its own name.")
        for v in variants:
            try:
                models.register_variant(v)
            except ValueError as e:
                raise PluginError(f"{where}: {e}") from e
    except BaseException:
        for table, before in ((models.REGISTRY, registry), (checkpoint.MODEL_CLASSES, classes)):
            table.clear()
            table.update(before)
        raise
    return [*added_on_import, *(n for n in names if n not in added_on_import)]


_IMPORT_FIX = "Fix the error, or make the module importable: `pip install -e PACKAGE`, or put its folder on PYTHONPATH."


def load_module(name: str) -> list[str]:
    """Import plugin module ``name`` (as ``--plugin name``) and register its variants -> their names; loading it
    again returns the same names (or raises the same PluginError)."""
    if not isinstance(name, str) or not MODULE_NAME.match(name):
        raise PluginError(
            f"--plugin {name!r}: give an importable module name (e.g. my_models or pkg.models), not a path; "
            "put the module's folder on PYTHONPATH or install its package."
        )
    key = f"module {name}"
    if key not in _LOADED:
        try:
            _LOADED[key] = _register(lambda: importlib.import_module(name), f"plugin module {name!r}")
        except PluginError as e:
            _LOADED[key] = e
    got = _LOADED[key]
    if isinstance(got, PluginError):
        raise got
    return list(got)


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> tuple[list[str], list[str]]:
    """Load every entry point of ``group`` in the installed packages -> (variant names, problems). A broken one is
    a problem (its message names it and the fix), never fatal: the others and the built-in variants work."""
    from importlib.metadata import entry_points

    names, problems = [], []
    for ep in entry_points(group=group):
        dist = getattr(ep.dist, "name", None) or "an installed package"
        key = f"entry point {ep.name} = {ep.value}"
        if key not in _LOADED:
            try:
                _LOADED[key] = _register(ep.load, f"plugin {ep.value!r} (entry point {ep.name!r} of {dist})")
            except PluginError as e:
                _LOADED[key] = e
        got = _LOADED[key]
        if isinstance(got, PluginError):
            problems.append(f"{got} Or uninstall it: `pip uninstall {dist}`.")
        else:
            names.extend(got)
    return names, problems


def load_plugins(modules: Iterable[str] = (), entry_points: bool = True) -> list[str]:
    """Register the installed plugins (entry points, once per process; a broken one is a ``PluginWarning``, see
    ``problems()``) and each ``--plugin`` module -> the names of the variants they gave. Every module that works
    is registered; then one PluginError names each module that did not."""
    global _SCANNED
    names: list[str] = []
    if entry_points and not _SCANNED:
        _SCANNED = True
        found, problems = load_entry_points()
        names.extend(found)
        for p in problems:
            _PROBLEMS.append(p)
            warnings.warn(p, PluginWarning, stacklevel=2)
    elif entry_points:
        names.extend(
            n for key, got in _LOADED.items() if key.startswith("entry point") and isinstance(got, list) for n in got
        )
    errors = []
    for module in modules:
        try:
            names.extend(load_module(module))
        except PluginError as e:
            errors.append(str(e))
    if errors:
        raise PluginError("\n".join(errors))
    return list(dict.fromkeys(names))


def problems() -> list[str]:
    """The installed plugins that ``load_plugins`` could not load in this process (their messages)."""
    return list(_PROBLEMS)
