"""Parameter validation like Stripe's, from the rules generated out of the SDK.

``schema.json`` (see ``schema_gen``) says, for every endpoint, which parameters exist at
every depth, their types, enum values and which are required. On top of it come the
documented rules the SDK's types cannot express: identifier and event-name lengths,
metadata limits, known currencies and ``recurring[interval_count]`` ranges.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

from . import errors
from .currencies import CURRENCIES

Rule = dict[str, Any]
_INT = re.compile(r"^-?\d+$")
#: Maximum lengths Stripe documents for fields the SDK types as plain strings.
MAX_LENGTH = {"identifier": 100, "event_name": 100}
#: The longest recurring interval Stripe accepts: three years.
MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}


@cache
def schema() -> dict[str, Any]:
    text = resources.files("stripe_emulator").joinpath("schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _path(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def validate(route_key: str, params: dict[str, Any]) -> None:
    """Refuse ``params`` for the endpoint ``route_key`` (``POST /v1/products/{}``)."""
    name = schema()["endpoints"].get(route_key)
    if name is None:  # every registered route has rules; a test keeps it so
        raise LookupError(f"no parameter rules for {route_key}")
    _object(params, name, "")


def _object(value: dict[str, Any], def_name: str, prefix: str) -> None:
    spec = schema()["defs"][def_name]
    fields: dict[str, Rule] = spec["fields"]
    for key in value:
        if key not in fields:
            raise errors.unknown(_path(prefix, key))
    for key in spec["required"]:
        if value.get(key) is None:
            raise errors.missing(_path(prefix, key))
    for key, item in value.items():
        _check(item, fields[key], _path(prefix, key), key)
    _documented_rules(value, prefix)


def _check(value: Any, rule: Rule, path: str, name: str) -> None:
    if value == "" and rule["t"] != "any":
        if rule.get("empty"):
            return
        raise errors.invalid(
            path,
            f"You passed an empty string for '{path}'. We assume empty values are an attempt "
            f"to unset a parameter; however '{path}' cannot be unset. You should remove "
            f"'{path}' from your request or supply a non-empty value.",
        )
    kind = rule["t"]
    if kind == "union":
        failures: list[errors.StripeError] = []
        for option in rule["of"]:
            try:
                _check(value, option, path, name)
                return
            except errors.StripeError as exc:
                failures.append(exc)
        raise failures[0]
    if kind == "obj":
        if not isinstance(value, dict):
            raise errors.bad(path, f"Invalid object: {path} must be a hash.")
        _object(value, rule["def"], path)
    elif kind == "list":
        if not isinstance(value, list):
            raise errors.bad(path, f"Invalid array: {path} must be an array.")
        for i, item in enumerate(value):
            _check(item, rule["items"], f"{path}[{i}]", name)
    elif kind == "map":
        if not isinstance(value, dict):
            raise errors.bad(path, f"Invalid object: {path} must be a hash.")
    elif isinstance(value, dict | list):
        raise errors.bad(path, f"Invalid value for {path}: expected a string, got a hash.")
    else:
        _scalar(str(value), rule, path, name)


def _scalar(value: str, rule: Rule, path: str, name: str) -> None:
    kind = rule["t"]
    if kind == "int" and not _INT.match(value):
        raise errors.StripeError(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=path
        )
    if kind == "bool" and value not in ("true", "false"):
        raise errors.bad(path, f"Invalid boolean: {value}")
    if kind == "num":
        try:
            ok = Decimal(value).is_finite()
        except InvalidOperation:
            ok = False
        if not ok:
            raise errors.StripeError(
                400, f"Invalid decimal: {value}", code="parameter_invalid_decimal", param=path
            )
    if kind == "enum" and value not in [str(v) for v in rule["values"]]:
        options = [str(v) for v in rule["values"]]
        listed = ", ".join(options[:-1]) + f", or {options[-1]}" if len(options) > 1 else options[0]
        raise errors.bad(path, f"Invalid {path}: must be one of {listed}")
    limit = MAX_LENGTH.get(name)
    if kind == "str" and limit is not None and len(value) > limit:
        raise errors.bad(
            path, f"Invalid {path}: must be at most {limit} characters long (got {len(value)})."
        )


def _documented_rules(value: dict[str, Any], prefix: str) -> None:
    currency = value.get("currency")
    if isinstance(currency, str) and currency and currency.lower() not in CURRENCIES:
        raise errors.bad(
            _path(prefix, "currency"),
            f"Invalid currency: {currency.lower()}. Stripe currently supports these "
            "currencies: " + ", ".join(sorted(CURRENCIES)),
        )
    meta = value.get("metadata")
    if isinstance(meta, dict):
        _metadata(meta, _path(prefix, "metadata"))
    interval, count = value.get("interval"), value.get("interval_count")
    if isinstance(interval, str) and isinstance(count, str) and _INT.match(count):
        most = MAX_INTERVAL_COUNT.get(interval, 1)
        if not 1 <= int(count) <= most:
            raise errors.bad(
                _path(prefix, "interval_count"),
                "Invalid interval_count: the maximum interval is three years (3 years, "
                f"36 months, or 156 weeks); with interval={interval} it must be between 1 "
                f"and {most}.",
            )


def _metadata(meta: dict[str, Any], path: str) -> None:
    if len(meta) > 50:
        raise errors.bad(path, "Metadata can have at most 50 keys.")
    for key, item in meta.items():
        if len(key) > 40:
            raise errors.bad(
                f"{path}[{key}]", f"Metadata keys can be at most 40 characters long ({key})."
            )
        if isinstance(item, dict | list):
            raise errors.bad(f"{path}[{key}]", "Metadata values must be strings.")
        if len(str(item)) > 500:
            raise errors.bad(
                f"{path}[{key}]", "Metadata values can be at most 500 characters long."
            )
