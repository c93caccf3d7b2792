"""Checks on a config file before pydantic sees it: unknown keys anywhere, and stray environment variables.

Pydantic section models ignore keys they do not know unless each one forbids extras, and then their error reads
like a dump. A typo such as `labels.horizon_dayz` must instead fail with the file, the section and the closest
valid key. The walk follows the `Settings` model's own field annotations (models, lists and dicts of models,
optionals), so a section added to the config is checked without being listed here.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ENV_PREFIX = "CHURNML_"
ENV_NESTED = "__"
#: `CHURNML_*` variables that are read directly, not settings: the CLI's debug switch and option defaults
#: (`churnml models --name`, `churnml apikey --key`), and the webhook secret's default variable.
NOT_SETTINGS = frozenset({"CHURNML_DEBUG", "CHURNML_REGISTERED_MODEL", "CHURNML_API_KEY", "CHURNML_WEBHOOK_SECRET"})


class ConfigError(ValueError):
    """A config file that cannot be used; the message is one or more sentences a user can act on."""


@dataclass(frozen=True)
class UnknownKey:
    """A key the config model does not have, where it was found and the closest valid key (if any)."""

    section: str
    key: str
    suggestion: str | None
    valid: tuple[str, ...]

    def sentence(self) -> str:
        where = f"section `{self.section}`" if self.section else "the top level"
        hint = f" Did you mean `{self.suggestion}`?" if self.suggestion else ""
        return f"Unknown key `{self.key}` in {where}.{hint} Valid keys there: {', '.join(self.valid)}."


def _models_in(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The BaseModel type an annotation holds and how: ('model' | 'list' | 'dict' | '')."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, "model"
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found, how = _models_in(arg)
            if found is not None:
                return found, how
        return None, ""
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        inner, how = _models_in(args[0]) if args else (None, "")
        return (inner, "list") if how == "model" else (None, "")
    if origin in (dict, Mapping):
        args = typing.get_args(annotation)
        inner, how = _models_in(args[1]) if len(args) == 2 else (None, "")
        return (inner, "dict") if how == "model" else (None, "")
    return None, ""


def _keys(model: type[BaseModel]) -> dict[str, str]:
    """Accepted keys of a model (field names and aliases) -> field name."""
    out: dict[str, str] = {}
    for name, info in model.model_fields.items():
        out[name] = name
        if info.alias:
            out[info.alias] = name
    return out


def unknown_keys(model: type[BaseModel], raw: Any, section: str = "") -> list[UnknownKey]:
    """Every key of `raw` (a parsed YAML mapping) that `model` (recursively) does not define."""
    if not isinstance(raw, Mapping):
        return []
    keys = _keys(model)
    found: list[UnknownKey] = []
    for key, value in raw.items():
        where = f"{section}.{key}" if section else str(key)
        if key not in keys:
            close = difflib.get_close_matches(str(key), list(model.model_fields), n=1, cutoff=0.6)
            found.append(UnknownKey(section, str(key), close[0] if close else None, tuple(model.model_fields)))
            continue
        inner, how = _models_in(model.model_fields[keys[key]].annotation)
        if inner is None:
            continue
        if how == "model":
            found += unknown_keys(inner, value, where)
        elif how == "list" and isinstance(value, list):
            for i, item in enumerate(value):
                found += unknown_keys(inner, item, f"{where}[{i}]")
        elif how == "dict" and isinstance(value, Mapping):
            for k, item in value.items():
                found += unknown_keys(inner, item, f"{where}.{k}")
    return found


def check_keys(model: type[BaseModel], raw: Mapping[str, Any], source: Path | str | None) -> None:
    """Raise `ConfigError` naming the file when `raw` holds keys `model` does not know."""
    found = unknown_keys(model, raw)
    if found:
        origin = f"Config file {source}" if source else "The configuration"
        lines = [f"{origin} has {len(found)} unknown key{'s' if len(found) > 1 else ''}:"]
        lines += [f"  {u.sentence()}" for u in found]
        raise ConfigError("\n".join(lines))


def stray_env(model: type[BaseModel], environ: Mapping[str, str], also_read: Iterable[str] = ()) -> list[str]:
    """`CHURNML_*` variables whose path matches no setting, each as a sentence (for a warning).

    `also_read` names further variables the configuration itself points at (e.g. a webhook's `secret_env`)."""
    known = NOT_SETTINGS | {v.upper() for v in also_read}
    out: list[str] = []
    for var in sorted(environ):
        if not var.upper().startswith(ENV_PREFIX) or var.upper() in known:
            continue
        parts = [p.lower() for p in var[len(ENV_PREFIX):].split(ENV_NESTED)]
        current: type[BaseModel] | None = model
        for i, part in enumerate(parts):
            keys = _keys(current) if current is not None else {}
            if part not in keys:
                close = difflib.get_close_matches(part, list(keys), n=1, cutoff=0.6)
                better = ENV_PREFIX + ENV_NESTED.join([*parts[:i], close[0]]).upper() if close else None
                hint = f" (did you mean {better}?)" if better else ""
                out.append(f"environment variable {var} matches no setting{hint}; it is ignored")
                break
            inner, how = _models_in(current.model_fields[keys[part]].annotation)
            current = inner if how == "model" else None
            if current is None:
                break
    return out


def readable(errors: Iterable[Mapping[str, Any]], source: Path | str | None) -> str:
    """Pydantic validation errors as sentences: '<file>: `labels.horizon_days` must be ... (got 'x')'."""
    origin = f"Config file {source}" if source else "The configuration"
    lines = [f"{origin} is not valid:"]
    for e in errors:
        loc = ".".join(str(p) for p in e.get("loc", ()))
        got = e.get("input")
        shown = "" if isinstance(got, Mapping | list) else f" (got {got!r})"
        msg = str(e.get("msg", "invalid value")).removeprefix("Value error, ")  # pydantic's prefix on our own
        lines.append(f"  `{loc}`: {msg.rstrip('.')}{shown}.")
    return "\n".join(lines)
