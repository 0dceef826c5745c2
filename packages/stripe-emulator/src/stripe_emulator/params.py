"""Reading validated parameters (``validation`` has checked names and types) with
Stripe's error messages for what only the endpoint can tell."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from . import errors


def _path(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def require(params: dict[str, Any], *names: str, prefix: str = "") -> None:
    for name in names:
        if params.get(name) in (None, ""):
            raise errors.missing(_path(prefix, name))


def to_int(value: Any, param: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise errors.StripeError(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
        ) from None


def opt_int(params: dict[str, Any], name: str, prefix: str = "") -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    return to_int(value, _path(prefix, name))


def to_bool(value: Any, param: str) -> bool:
    if value in (True, "true"):
        return True
    if value in (False, "false"):
        return False
    raise errors.bad(param, f"Invalid boolean: {value}")


def to_decimal(value: Any, param: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise errors.StripeError(
            400, f"Invalid decimal: {value}", code="parameter_invalid_decimal", param=param
        ) from None
    if not d.is_finite():
        raise errors.bad(param, f"Invalid decimal: {value}")
    return d


def one_of(value: Any, allowed: tuple[str, ...], param: str) -> str:
    if value not in allowed:
        options = ", ".join(f"`{a}`" for a in allowed)
        raise errors.bad(param, f"Invalid {param}: must be one of {options}")
    return str(value)


def decimal_str(d: Decimal) -> str:
    """Stripe's decimal strings: no exponent, no trailing zeros."""
    text = format(d.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def metadata(old: dict[str, Any] | None, new: Any) -> dict[str, Any]:
    """Merge metadata like Stripe: '' clears all, a key set to '' is removed."""
    if new is None:
        return dict(old or {})
    if new == "":
        return {}
    if not isinstance(new, dict):
        raise errors.bad("metadata", "Invalid object: metadata must be a hash.")
    out = dict(old or {})
    for k, v in new.items():
        if v == "":
            out.pop(k, None)
        else:
            out[k] = str(v)
    if len(out) > 50:
        raise errors.bad("metadata", "Metadata can have at most 50 keys.")
    return out
