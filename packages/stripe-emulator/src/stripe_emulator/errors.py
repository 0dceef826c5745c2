"""Stripe-shaped API errors."""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs/error-codes"


class StripeError(Exception):
    """An error rendered as Stripe's ``{"error": {...}}`` body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.extra = extra or {}
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.headers = headers or {}

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        err: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = f"{DOCS}/{self.code.replace('_', '-')}"
        if self.param:
            err["param"] = self.param
        if self.decline_code:
            err["decline_code"] = self.decline_code
        err.update(self.extra)
        if request_id:
            err["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}?t=0"
        return {"error": err}


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def unknown(param: str) -> StripeError:
    return StripeError(
        400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param
    )


def invalid(param: str, message: str, code: str = "parameter_invalid_empty") -> StripeError:
    return StripeError(400, message, code=code, param=param)


def bad(param: str | None, message: str) -> StripeError:
    """A 400 invalid_request_error without a specific code."""
    return StripeError(400, message, param=param)


def no_such(kind: str, obj_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{obj_id}'", code="resource_missing", param=param)


def card_declined(decline_code: str, message: str) -> StripeError:
    return StripeError(
        402, message, type="card_error", code="card_declined", decline_code=decline_code
    )


def mask(key: str) -> str:
    """An API key as Stripe shows it in messages: the start and the last four characters."""
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:]


def rate_limited() -> StripeError:
    return StripeError(
        429,
        "Too many requests hit the API too quickly. We recommend an exponential backoff of "
        "your requests.",
        code="rate_limit",
        headers={"Stripe-Should-Retry": "true"},
    )


def internal() -> StripeError:
    return StripeError(500, "An unknown error occurred in the emulator.", type="api_error")
