"""Where settings come from, checked by name: a misspelt setting is an error, never ignored.

Every ``POLICY_ROUTER_*`` variable (in the environment or the ``.env`` file) and every key of
the YAML config file must name a setting; the error names the stranger and the closest known
name. A ``.env`` file may hold other programs' variables: only prefixed ones are checked.
A value that does not parse names its variable and the expected format.
"""

from __future__ import annotations

import difflib
import json
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from router._errors import ConfigError

PREFIX: Final = "POLICY_ROUTER_"
NESTED: Final = "__"
# Variables with the prefix that are not settings: read before settings, or by the test suite.
NOT_SETTINGS: Final = frozenset(
    {
        "POLICY_ROUTER_CONFIG_FILE",
        "POLICY_ROUTER_TEST_POSTGRES_URL",  # the test suite's own
        "POLICY_ROUTER_TEST_REQUIRE_SEEDS",  # the test suite's own (.ci/run sets it)
    }
)
_JSON_EXAMPLES: Final[dict[type, str]] = {list: '["a", "b"]', dict: '{"name": "value"}'}


def check_variables(model: type[BaseModel], variables: Iterable[str], where: str) -> None:
    """Raise ConfigError naming every ``POLICY_ROUTER_*`` name that is no setting of ``model``."""
    unknown = [n for n in variables if n.upper().startswith(PREFIX) and _unknown_variable(model, n)]
    if unknown:
        known = sorted(variable_names(model))
        raise ConfigError("; ".join(_unknown_line(n, where, known) for n in unknown))


def check_keys(model: type[BaseModel], data: Mapping[str, Any], where: str) -> None:
    """Raise ConfigError naming every top-level key of a config file that is no setting."""
    unknown = [k for k in data if str(k) not in model.model_fields]
    if unknown:
        known = sorted(model.model_fields)
        raise ConfigError("; ".join(_unknown_line(str(k), where, known) for k in unknown))


def check_json_values(model: type[BaseModel], variables: Mapping[str, str], where: str) -> None:
    """A variable for a list, mapping or section must hold JSON: say so, with an example."""
    for name, value in variables.items():
        if not name.upper().startswith(PREFIX) or name.upper() in NOT_SETTINGS:
            continue
        kind = _kind(_annotation(model, _path(name)))
        if kind is None:
            continue
        try:
            json.loads(value)
        except ValueError as exc:
            raise ConfigError(
                f"{name.upper()} ({where}) must be JSON, like {name.upper()}='{_JSON_EXAMPLES[kind]}' "
                f"(it does not parse: {exc})"
            ) from None


def variable_names(model: type[BaseModel], prefix: str = PREFIX) -> list[str]:
    """Every variable naming a setting of ``model`` (sections expanded one level per field)."""
    out = []
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        out.append(variable)
        section = _model(field.annotation)
        if section is None and _kind(field.annotation) is dict:
            entry = _model(_dict_value(field.annotation))  # providers: <SLUG>__API_BASE
            if entry is not None:
                out.extend(variable_names(entry, f"{variable}{NESTED}<NAME>{NESTED}"))
        if section is not None:
            out.extend(variable_names(section, variable + NESTED))
    return out


def describe(model: type[BaseModel], exc: ValidationError) -> ConfigError:
    """A settings ValidationError as one ConfigError naming each variable and what it expects."""
    known = sorted(variable_names(model))
    lines = [_error_line(err, known) for err in exc.errors()]
    return ConfigError("invalid settings: " + "; ".join(lines))


def _error_line(err: Mapping[str, Any], known: list[str]) -> str:
    loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
    variable = PREFIX + NESTED.join(p.upper() for p in loc)
    place = f"(or '{'.'.join(loc)}' in the config file)"
    if err["type"] == "extra_forbidden":
        return _unknown_line(f"{variable} {place}", "the settings", known, variable)
    message = str(err["msg"]).removeprefix("Value error, ")
    secret = any("key" in p for p in loc)
    got = "" if secret or "got" in message else f" (got {_short(err.get('input'))})"
    return f"{variable} {place}: {message}{got}"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}…"


def _unknown_line(name: str, where: str, known: list[str], match: str | None = None) -> str:
    close = difflib.get_close_matches((match or name).upper(), [k.upper() for k in known], n=1)
    hint = ""
    if close:
        hint = f"; did you mean {known[[k.upper() for k in known].index(close[0])]}?"
    return f"unknown setting {name} in {where}{hint}"


def _path(variable: str) -> list[str]:
    return variable.upper().removeprefix(PREFIX).lower().split(NESTED)


def _unknown_variable(model: type[BaseModel], variable: str) -> bool:
    if variable.upper() in NOT_SETTINGS:
        return False
    annotation: Any = model
    for part in _path(variable):
        section = _model(annotation)
        if section is not None:
            if part not in section.model_fields:
                return True
            annotation = section.model_fields[part].annotation
        elif _kind(annotation) is dict:
            annotation = _dict_value(annotation)
        else:
            return True  # nested below a plain value
    return False


def _annotation(model: type[BaseModel], path: list[str]) -> Any:
    annotation: Any = model
    for part in path:
        section = _model(annotation)
        if section is not None and part in section.model_fields:
            annotation = section.model_fields[part].annotation
        elif _kind(annotation) is dict:
            annotation = _dict_value(annotation)
        else:
            return None
    return annotation


def _unwrap(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        present = [a for a in get_args(annotation) if a is not type(None)]
        return present[0] if len(present) == 1 else annotation
    return annotation


def _model(annotation: Any) -> type[BaseModel] | None:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _kind(annotation: Any) -> type | None:
    """``list`` or ``dict`` if the value is read as JSON, else None."""
    annotation = _unwrap(annotation)
    origin = get_origin(annotation) or annotation
    if _model(annotation) is not None or origin in (dict, Mapping):
        return dict
    if origin in (list, tuple, set, frozenset):
        return list
    return None


def _dict_value(annotation: Any) -> Any:
    args = get_args(_unwrap(annotation))
    return args[1] if len(args) == 2 else Any


def dotenv_names(path: Path) -> dict[str, str]:
    """The variables a ``.env`` file sets (none if there is no file)."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v or "" for k, v in dotenv_values(path).items()}
