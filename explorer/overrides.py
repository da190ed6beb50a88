"""``--set key=value`` overrides of a variant's architecture and training recipe, checked against their fields.

Every field of the variant's frozen config dataclass and of its ``TrainRecipe`` can be set by name. ``latent``
is the one alias: the code size of any variant, whatever its config calls it (``code_dim``, ``latent_dim``). Values
are parsed by the field's declared type; an unknown key lists the valid ones, a bad value names the key, the value
and what it must be, and the dataclasses' own checks (``__post_init__``) then judge the new values.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping

LATENT_ALIAS = "latent"
LATENT_FIELDS = ("code_dim", "latent_dim")


class OverrideError(ValueError):
    """An override that does not fit the config; the message names the key, the value and the valid choices."""


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a repeated key keeps the last value."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise OverrideError(f"--set {item!r}: write key=value, e.g. --set epochs=5 or --set latent=2.")
        out[key] = value.strip()
    return out


def _parse(key: str, raw: str, annotation) -> object:
    """A string -> a value of the field's type (int, float, bool, str, None-able, tuple[int, ...])."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if raw.lower() in ("none", "null", ""):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _parse(key, raw, inner[0]) if len(inner) == 1 else raw
    if origin is tuple:
        parts = [p for p in raw.replace(" ", "").split(",") if p]
        if not parts:
            raise OverrideError(f"--set {key}={raw!r}: give a comma list, e.g. {key}=256,64.")
        return tuple(_parse(key, p, args[0]) for p in parts)
    try:
        if annotation is bool:
            if raw.lower() in ("true", "1", "yes", "on"):
                return True
            if raw.lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if annotation is int:
            return int(raw)
        if annotation is float:
            return float(raw)
    except ValueError:
        kind = {bool: "true or false", int: "an integer", float: "a number"}[annotation]
        raise OverrideError(f"--set {key}={raw!r}: must be {kind}.") from None
    return raw


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def apply(config, recipe, assignments: Mapping[str, str]) -> tuple[object, object, dict]:
    """Apply ``{key: raw value}`` to a config and a recipe dataclass -> (config, recipe, the applied values).

    Raises OverrideError naming the key; the dataclasses' own validation errors are re-raised as OverrideError.
    """
    config_fields = {f.name for f in dataclasses.fields(config)}
    recipe_fields = {f.name for f in dataclasses.fields(recipe)}
    changes: dict[str, dict[str, object]] = {"config": {}, "recipe": {}}
    for key, raw in assignments.items():
        name = key
        if key == LATENT_ALIAS:
            name = next((f for f in LATENT_FIELDS if f in config_fields), None)
            if name is None:
                raise OverrideError(
                    f"--set {key}: {type(config).__name__} has no latent size to set (its fields: "
                    f"{', '.join(sorted(config_fields))})."
                )
        if name in config_fields:
            changes["config"][name] = _parse(key, raw, _hints(type(config))[name])
        elif name in recipe_fields:
            changes["recipe"][name] = _parse(key, raw, _hints(type(recipe))[name])
        else:
            valid = sorted(
                config_fields | recipe_fields | ({LATENT_ALIAS} if config_fields & set(LATENT_FIELDS) else set())
            )
            raise OverrideError(f"--set {key}: unknown key; valid keys are {', '.join(valid)}.")
    try:
        new_config = dataclasses.replace(config, **changes["config"])
        new_recipe = dataclasses.replace(recipe, **changes["recipe"])
    except (TypeError, ValueError) as e:
        raise OverrideError(f"--set: {e}") from e
    return new_config, new_recipe, {**changes["config"], **changes["recipe"]}
