"""The pricing of a plan: what the REST API accepts and the plan row stores.

JSON shape (``parse_pricing`` reads it, ``PricingSpec.to_dict`` writes it back)::

    {
      "flat_fee": "999.00",        # optional, per billing period, default "0"
      "included_units": 10000,     # optional int >= 0: free allowance of the usage meter
      "usage": {                   # optional; absent = no usage price
        "meter": "requests",
        "model": "unit" | "package" | "graduated" | "volume",
        "unit_amount": "0.02",     # unit/package only: price per unit / per package
        "package_size": 1000,      # package only, int >= 1
        "tiers": [                 # graduated/volume only
          {"up_to": 10, "unit_amount": "1.00", "flat_amount": "0"},
          {"up_to": null, "unit_amount": "0.50", "flat_amount": "0"}
        ]
      }
    }

Several meters: ``"usage"`` is a list of such objects, one per meter, each with its own
``"included_units"`` (the top-level ``included_units`` is then refused as ambiguous)::

    {"flat_fee": "0", "usage": [
      {"meter": "requests", "model": "unit", "unit_amount": "0.002", "included_units": 1000},
      {"meter": "tokens", "model": "package", "unit_amount": "0.01", "package_size": 1000}
    ]}

A list of several is accepted only with ``several_meters=True`` (callers that bill one
meter keep refusing it with a clear error). ``to_dict`` writes the object shape for one
usage price and the list for several (see ``tollway.pricing.prices``).

Unit amounts (``unit_amount`` everywhere) may carry up to 12 decimal places; flat
amounts (``flat_fee``, a tier's ``flat_amount``) at most the currency's minor units.
Every mistake raises ``InvalidInput`` with one ``FieldError`` per problem found, whose
``loc`` is the path to the field, e.g. ``("pricing", "usage", "tiers", 1, "up_to")``.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from tollway.domain.errors import FieldError, InvalidInput
from tollway.domain.money import (
    MAX_UNIT_AMOUNT_PLACES,
    minor_units,
    normalize_currency,
    parse_decimal,
)
from tollway.metering.meters import METER_KEY_RE
from tollway.pricing.prices import (
    PriceModel,
    PricingSpec,
    SeveralUsagePrices,
    Tier,
    UsagePrice,
    format_unit_amount,
)

__all__ = [
    "METER_KEY_RE",
    "PriceModel",
    "PricingSpec",
    "SeveralUsagePrices",
    "Tier",
    "UsagePrice",
    "format_unit_amount",
    "parse_pricing",
]

Loc = tuple[str | int, ...]


_MAX_INT = 10**18


# --------------------------------------------------------------------------- parsing


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, loc: Loc, message: str) -> None:
        self.items.append(FieldError(loc, message))

    def absorb(self, exc: InvalidInput) -> None:
        self.items.extend(exc.errors)


def _check_keys(data: Mapping[str, object], allowed: set[str], loc: Loc, errs: _Errors) -> None:
    for key in data:
        if key not in allowed:
            errs.add((*loc, str(key)), f"unknown field; allowed: {', '.join(sorted(allowed))}")


def _int_field(
    value: object, loc: Loc, errs: _Errors, *, minimum: int, what: str = "an integer"
) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        errs.add(loc, f"must be {what}")
        return None
    if value < minimum:
        errs.add(loc, f"must be >= {minimum}")
        return None
    if value > _MAX_INT:
        errs.add(loc, "too large")
        return None
    return value


def _dec(value: object, loc: Loc, errs: _Errors, places: int) -> Decimal | None:
    try:
        return parse_decimal(value, loc, max_places=places)
    except InvalidInput as exc:
        errs.absorb(exc)
        return None


def parse_pricing(
    data: Mapping[str, object],
    currency: str,
    loc: Loc = ("pricing",),
    *,
    several_meters: bool = False,
) -> PricingSpec:
    """Validate and parse a pricing dict (see module docstring); ``InvalidInput`` on error.

    All problems found are reported at once, each with its location under ``loc``.
    ``several_meters`` allows a list of more than one usage price.
    """
    errs = _Errors()
    cur = normalize_currency(currency) if isinstance(currency, str) else ""
    try:
        minor = minor_units(cur)
    except InvalidInput:
        raise InvalidInput.at(("currency",), f"unknown currency {currency!r}") from None
    if not isinstance(data, Mapping):
        raise InvalidInput.at(loc, "must be an object")

    _check_keys(data, {"flat_fee", "included_units", "usage"}, loc, errs)

    flat_fee: Decimal | None = Decimal(0)
    if data.get("flat_fee") is not None:
        flat_fee = _dec(data["flat_fee"], (*loc, "flat_fee"), errs, minor)

    included: int | None = 0
    if data.get("included_units") is not None:
        included = _int_field(data["included_units"], (*loc, "included_units"), errs, minimum=0)

    prices: list[UsagePrice] = []
    raw_usage = data.get("usage")
    uloc = (*loc, "usage")
    if isinstance(raw_usage, Sequence) and not isinstance(raw_usage, str | bytes):
        if data.get("included_units") is not None:
            errs.add(
                (*loc, "included_units"),
                "with a list of usage prices, set included_units on each usage price",
            )
        if len(raw_usage) > 1 and not several_meters:
            errs.add(uloc, "several usage prices are not supported here; give one")
        prices = _parse_usage_list(raw_usage, uloc, errs, minor)
    elif raw_usage is not None:
        one = _parse_usage(raw_usage, uloc, errs, minor)
        if one is not None:
            if data.get("included_units") is not None and one.included_units:
                errs.add(
                    (*loc, "included_units"),
                    "given twice: at the top and in the usage price; keep one",
                )
            elif included:
                one = replace(one, included_units=included)
            prices = [one]
    elif included:
        errs.add((*loc, "included_units"), "included units need a usage price ('usage')")

    if errs.items:
        first = errs.items[0]
        more = f" (and {len(errs.items) - 1} more)" if len(errs.items) > 1 else ""
        raise InvalidInput(f"{first.pointer}: {first.message}{more}", errs.items)
    assert flat_fee is not None
    return PricingSpec(currency=cur, flat_fee=flat_fee, usage_prices=tuple(prices))


def _parse_usage_list(
    raw: Sequence[object], loc: Loc, errs: _Errors, minor: int
) -> list[UsagePrice]:
    if not raw:
        errs.add(loc, "at least one usage price, or leave 'usage' out")
        return []
    out: list[UsagePrice] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        price = _parse_usage(item, (*loc, i), errs, minor)
        if price is None:
            continue
        if price.meter in seen:
            errs.add((*loc, i, "meter"), f"meter '{price.meter}' is priced twice")
            continue
        seen.add(price.meter)
        out.append(price)
    return out


def _parse_usage(raw: object, loc: Loc, errs: _Errors, minor: int) -> UsagePrice | None:
    if not isinstance(raw, Mapping):
        errs.add(loc, "must be an object")
        return None
    _check_keys(
        raw,
        {"meter", "model", "unit_amount", "package_size", "tiers", "included_units"},
        loc,
        errs,
    )
    ok = True
    included: int | None = 0
    if raw.get("included_units") is not None:
        included = _int_field(raw["included_units"], (*loc, "included_units"), errs, minimum=0)
        ok = included is not None

    meter = raw.get("meter")
    if meter is None:
        errs.add((*loc, "meter"), "field required")
        ok = False
    elif not isinstance(meter, str) or not METER_KEY_RE.match(meter):
        errs.add((*loc, "meter"), "must be a meter key (letters, digits, '_', '.', '-')")
        ok = False

    model_raw = raw.get("model")
    model: PriceModel | None = None
    if model_raw is None:
        errs.add((*loc, "model"), "field required")
    else:
        try:
            model = PriceModel(model_raw)
        except ValueError:
            allowed = ", ".join(m.value for m in PriceModel)
            errs.add((*loc, "model"), f"unknown model {model_raw!r}; one of: {allowed}")
    if model is None:
        return None

    unit_amount: Decimal | None = None
    package_size: int | None = None
    tiers: tuple[Tier, ...] = ()

    def not_used(key: str) -> None:
        nonlocal ok
        if raw.get(key) is not None:
            errs.add((*loc, key), f"not used by the {model.value} model")
            ok = False

    if model in (PriceModel.UNIT, PriceModel.PACKAGE):
        if raw.get("unit_amount") is None:
            errs.add((*loc, "unit_amount"), "field required")
            ok = False
        else:
            unit_amount = _dec(
                raw["unit_amount"], (*loc, "unit_amount"), errs, MAX_UNIT_AMOUNT_PLACES
            )
            ok = ok and unit_amount is not None
        not_used("tiers")
        if model is PriceModel.PACKAGE:
            if raw.get("package_size") is None:
                errs.add((*loc, "package_size"), "field required")
                ok = False
            else:
                package_size = _int_field(
                    raw["package_size"], (*loc, "package_size"), errs, minimum=1
                )
                ok = ok and package_size is not None
        else:
            not_used("package_size")
    else:
        not_used("unit_amount")
        not_used("package_size")
        parsed = _parse_tiers(raw.get("tiers"), (*loc, "tiers"), errs, minor)
        if parsed is None:
            ok = False
        else:
            tiers = parsed

    if not ok:
        return None
    assert isinstance(meter, str) and included is not None
    return UsagePrice(
        meter=meter,
        model=model,
        unit_amount=unit_amount,
        package_size=package_size,
        tiers=tiers,
        included_units=included,
    )


def _parse_tiers(raw: object, loc: Loc, errs: _Errors, minor: int) -> tuple[Tier, ...] | None:
    if raw is None:
        errs.add(loc, "field required")
        return None
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        errs.add(loc, "must be a list of tiers")
        return None
    if not raw:
        errs.add(loc, "at least one tier is required")
        return None
    before = len(errs.items)
    out: list[Tier] = []
    prev_up_to: int | None = None
    last = len(raw) - 1
    for i, t in enumerate(raw):
        tloc = (*loc, i)
        if not isinstance(t, Mapping):
            errs.add(tloc, "must be an object")
            continue
        _check_keys(t, {"up_to", "unit_amount", "flat_amount"}, tloc, errs)
        if "up_to" not in t:
            errs.add((*tloc, "up_to"), "field required (null for the last, open-ended tier)")
            up_to: int | None = None
            up_ok = False
        else:
            up_ok = True
            up_to = None
            raw_up = t["up_to"]
            if raw_up is None or raw_up == "inf":
                if i != last:
                    errs.add((*tloc, "up_to"), "only the last tier may be open-ended (null)")
                    up_ok = False
            else:
                up_to = _int_field(raw_up, (*tloc, "up_to"), errs, minimum=1, what="an integer")
                if up_to is None:
                    up_ok = False
                elif i == last:
                    errs.add((*tloc, "up_to"), "the last tier must be open-ended (up_to: null)")
                    up_ok = False
                elif prev_up_to is not None and up_to <= prev_up_to:
                    errs.add(
                        (*tloc, "up_to"),
                        f"tiers must be sorted by up_to, strictly increasing "
                        f"({up_to} <= {prev_up_to})",
                    )
                    up_ok = False
            if up_ok and up_to is not None:
                prev_up_to = up_to
        unit: Decimal | None = Decimal(0)
        if t.get("unit_amount") is not None:
            unit = _dec(t["unit_amount"], (*tloc, "unit_amount"), errs, MAX_UNIT_AMOUNT_PLACES)
        elif "unit_amount" not in t and t.get("flat_amount") is None:
            errs.add((*tloc, "unit_amount"), "field required (unit_amount or flat_amount)")
            unit = None
        flat: Decimal | None = Decimal(0)
        if t.get("flat_amount") is not None:
            flat = _dec(t["flat_amount"], (*tloc, "flat_amount"), errs, minor)
        if up_ok and unit is not None and flat is not None:
            out.append(Tier(up_to=up_to, unit_amount=unit, flat_amount=flat))
    if len(errs.items) != before:
        return None
    return tuple(out)
