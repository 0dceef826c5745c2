"""Stripe's test cards and what happens when they are attached or charged."""

from __future__ import annotations

from dataclasses import dataclass

#: number -> (brand, behaviour)
CARDS = {
    "4242424242424242": ("visa", "ok"),
    "4000056655665556": ("visa", "ok"),
    "5555555555554444": ("mastercard", "ok"),
    "378282246310005": ("amex", "ok"),
    "4000000000000341": ("visa", "fail_after_attach"),
    "4000000000009995": ("visa", "insufficient_funds"),
    "4000000000000002": ("visa", "generic_decline"),
    "4000000000009987": ("visa", "lost_card"),
    "4000002760003184": ("visa", "authentication_required"),
    "4000002500003155": ("visa", "authentication_required"),
}
#: Stripe's magic test PaymentMethod ids and tokens -> card number
MAGIC = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_visa_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "tok_visa": "4242424242424242",
    "tok_mastercard": "5555555555554444",
    "tok_chargeCustomerFail": "4000000000000341",
    "tok_chargeDeclined": "4000000000000002",
    "tok_chargeDeclinedInsufficientFunds": "4000000000009995",
    "tok_authenticationRequired": "4000002760003184",
}
_DECLINES = {
    "fail_after_attach": ("generic_decline", "Your card was declined."),
    "generic_decline": ("generic_decline", "Your card was declined."),
    "insufficient_funds": ("insufficient_funds", "Your card has insufficient funds."),
    "lost_card": ("lost_card", "Your card was declined."),
}


@dataclass(frozen=True)
class Outcome:
    status: str  # "succeeded" | "declined" | "requires_action"
    decline_code: str | None = None
    message: str | None = None


def normalize(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def brand_of(number: str) -> str:
    known = CARDS.get(number)
    if known:
        return known[0]
    return {"4": "visa", "5": "mastercard", "3": "amex"}.get(number[:1], "unknown")


def valid_number(number: str) -> bool:
    if not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def behaviour(number: str) -> str:
    return CARDS.get(number, ("", "ok"))[1]


def on_attach(number: str) -> Outcome:
    """Attaching runs a zero-amount check: hard declines fail, 0341 passes."""
    b = behaviour(number)
    if b in ("generic_decline", "insufficient_funds", "lost_card"):
        code, msg = _DECLINES[b]
        return Outcome("declined", code, msg)
    return Outcome("succeeded")


def on_charge(number: str, *, off_session: bool) -> Outcome:
    b = behaviour(number)
    if b in _DECLINES:
        code, msg = _DECLINES[b]
        return Outcome("declined", code, msg)
    if b == "authentication_required" and off_session:
        return Outcome(
            "requires_action", "authentication_required", "Your card requires authentication."
        )
    return Outcome("succeeded")
