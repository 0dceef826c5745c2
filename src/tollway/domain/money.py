"""Money: ``Decimal`` amounts, ISO 4217 minor units and THE rounding rule.

Amounts are ``decimal.Decimal`` (or integer minor units at the edges, e.g. Stripe's
``amount``), never ``float``.

The one rounding rule
---------------------
A *line* amount (one invoice line: a flat fee, one tier of a usage price, a proration)
is computed exactly and then rounded **once**, to the currency's minor unit,
**half-up** (ties away from zero: 0.005 USD -> 0.01, -0.005 USD -> -0.01). Unit prices
are never rounded (they may carry up to 12 decimal places, like Stripe's
``unit_amount_decimal``); totals are sums of already-rounded lines and need no rounding.
``round_line`` is the only function in Tollway that rounds money.

Pure: no I/O.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

from tollway.domain.errors import InvalidInput

__all__ = [
    "CURRENCY_MINOR_UNITS",
    "MAX_UNIT_AMOUNT_PLACES",
    "MONEY_CONTEXT",
    "decimal_places",
    "format_amount",
    "from_minor",
    "is_known_currency",
    "minor_unit",
    "minor_units",
    "normalize_currency",
    "parse_decimal",
    "round_line",
    "to_minor",
]

#: Unit prices (price per unit / per package / per tier unit) may carry this many places.
MAX_UNIT_AMOUNT_PLACES = 12

#: Decimal context for money arithmetic: wide enough that no product or sum of
#: realistic amounts (12-place unit prices x quantities up to 1e20) is ever rounded.
MONEY_CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP)

#: ISO 4217 active currency codes -> number of minor-unit digits (exponent).
CURRENCY_MINOR_UNITS: dict[str, int] = {
    # 0 decimals
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    # 3 decimals
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # 4 decimals
    "CLF": 4, "UYW": 4,
    # 2 decimals
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2,
    "AWG": 2, "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BMD": 2, "BND": 2,
    "BOB": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2,
    "CDF": 2, "CHF": 2, "CNY": 2, "COP": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2,
    "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2,
    "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GTQ": 2, "GYD": 2,
    "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "IRR": 2,
    "JMD": 2, "KES": 2, "KGS": 2, "KHR": 2, "KPW": 2, "KYD": 2, "KZT": 2, "LAK": 2,
    "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2,
    "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2,
    "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2,
    "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "QAR": 2, "RON": 2,
    "RSD": 2, "RUB": 2, "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2,
    "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2,
    "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2,
    "TZS": 2, "UAH": 2, "USD": 2, "UYU": 2, "UZS": 2, "VES": 2, "WST": 2, "XCD": 2,
    "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
}  # fmt: skip

_SYMBOLS: dict[str, str] = {
    "USD": "$", "EUR": "€", "GBP": "£", "INR": "₹", "JPY": "¥", "KRW": "₩",
    "CNY": "CN¥", "AUD": "A$", "CAD": "CA$", "BRL": "R$", "CHF": "CHF ",
}  # fmt: skip

_QUANTUM: dict[int, Decimal] = {n: Decimal(1).scaleb(-n) for n in range(0, 13)}


def normalize_currency(currency: str) -> str:
    """Upper-case ISO 4217 code (Stripe uses lower case, we store upper case)."""
    return currency.strip().upper()


def is_known_currency(currency: str) -> bool:
    return isinstance(currency, str) and normalize_currency(currency) in CURRENCY_MINOR_UNITS


def minor_units(currency: str) -> int:
    """Number of decimal digits of the currency's minor unit (USD 2, JPY 0, KWD 3).

    Raises ``InvalidInput`` (at ``("currency",)``) for a code not in ISO 4217.
    """
    try:
        return CURRENCY_MINOR_UNITS[normalize_currency(currency)]
    except (KeyError, AttributeError):
        raise InvalidInput.at(("currency",), f"unknown currency {currency!r}") from None


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of the currency as a Decimal: USD 0.01, JPY 1, KWD 0.001."""
    return _QUANTUM[minor_units(currency)]


def round_line(amount: Decimal, currency: str) -> Decimal:
    """THE rounding rule: round a line amount to the currency's minor unit, half-up.

    Ties go away from zero, so a credit rounds like the matching charge. The result
    always carries exactly the currency's number of decimals (``Decimal("12.50")``).
    """
    return amount.quantize(_QUANTUM[minor_units(currency)], context=MONEY_CONTEXT)


def to_minor(amount: Decimal, currency: str) -> int:
    """Amount in integer minor units (USD 12.50 -> 1250), rounded by ``round_line``."""
    rounded = round_line(amount, currency)
    return int(rounded.scaleb(minor_units(currency), context=MONEY_CONTEXT))


def from_minor(amount_minor: int, currency: str) -> Decimal:
    """Integer minor units to a Decimal amount (1250 USD -> Decimal("12.50"))."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError("amount_minor must be an int")
    n = minor_units(currency)
    return (
        Decimal(amount_minor)
        .scaleb(-n, context=MONEY_CONTEXT)
        .quantize(_QUANTUM[n], context=MONEY_CONTEXT)
    )


def decimal_places(value: Decimal) -> int:
    """Significant decimal places of a finite Decimal (``1.500`` -> 1, ``10`` -> 0)."""
    if value.is_zero():
        return 0
    exp = value.normalize(context=MONEY_CONTEXT).as_tuple().exponent
    assert isinstance(exp, int)
    return max(0, -exp)


def parse_decimal(
    value: object,
    loc: tuple[str | int, ...],
    *,
    max_places: int,
    allow_negative: bool = False,
) -> Decimal:
    """Parse a money-ish input (decimal string, int, Decimal, or a JSON float) strictly.

    Raises ``InvalidInput`` at ``loc`` for non-numbers, NaN/infinity, negatives (unless
    allowed) and more than ``max_places`` significant decimal places.
    """
    if isinstance(value, bool) or value is None:
        raise InvalidInput.at(loc, 'must be a decimal number (a string like "0.02")')
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        d = Decimal(repr(value))  # shortest repr: 0.02 -> "0.02", not the binary expansion
    elif isinstance(value, str):
        text = value.strip()
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise InvalidInput.at(loc, f"not a decimal number: {value!r}") from None
        if "e" in text.lower():
            raise InvalidInput.at(loc, "write the number without an exponent")
    else:
        raise InvalidInput.at(loc, 'must be a decimal number (a string like "0.02")')
    if not d.is_finite():
        raise InvalidInput.at(loc, "must be a finite number")
    if d < 0 and not allow_negative:
        raise InvalidInput.at(loc, "must not be negative")
    places = decimal_places(d)
    if places > max_places:
        raise InvalidInput.at(
            loc, f"at most {max_places} decimal place{'s' if max_places != 1 else ''} allowed"
        )
    if abs(d) >= Decimal(10) ** 20:
        raise InvalidInput.at(loc, "too large")
    return d + 0 if d.is_zero() else d  # fold -0 into 0


def format_amount(amount: Decimal, currency: str, *, places: int | None = None) -> str:
    """Human-readable amount for invoices: ``$12.50``, ``₹0.01``, ``KWD 1.250``.

    ``places`` defaults to the currency's minor units; unit prices pass more so that
    ``$0.0001`` is not shown as ``$0.00``. Never rounds below what is given: an amount
    with more places than ``places`` is shown in full.
    """
    code = normalize_currency(currency)
    n = minor_units(code) if places is None else places
    shown = max(n, decimal_places(amount))
    text = f"{abs(amount):,.{shown}f}"
    sign = "-" if amount < 0 else ""
    symbol = _SYMBOLS.get(code)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{code} {text}"
