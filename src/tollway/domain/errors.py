"""The one exception tree of Tollway.

Every layer raises these; the REST API turns them into RFC 9457 problem+json in one
place (``tollway.api.problems``) and the portal into readable messages. Pure code raises
them too: they carry no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field; ``loc`` is its path, e.g. ``("pricing", "tiers", 1)``."""

    loc: tuple[str | int, ...]
    message: str

    @property
    def pointer(self) -> str:
        """The location as a JSON pointer-ish dotted path: ``pricing.tiers[1].up_to``."""
        out = ""
        for part in self.loc:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                out += f".{part}" if out else part
        return out


class TollwayError(Exception):
    """Base of every error Tollway raises on purpose."""

    status: int = 500
    title: str = "Internal error"
    type_slug: str = "internal"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(TollwayError):
    """The caller sent something we cannot accept (422)."""

    status = 422
    title = "Invalid input"
    type_slug = "invalid-input"

    def __init__(self, detail: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.errors = tuple(errors)

    @classmethod
    def at(cls, loc: tuple[str | int, ...], message: str) -> InvalidInput:
        err = FieldError(loc, message)
        where = err.pointer
        return cls(f"{where}: {message}" if where else message, [err])


class BadRequest(TollwayError):
    status = 400
    title = "Bad request"
    type_slug = "bad-request"


class Unauthenticated(TollwayError):
    status = 401
    title = "Unauthenticated"
    type_slug = "unauthenticated"


class Forbidden(TollwayError):
    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


class NotFound(TollwayError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(TollwayError):
    status = 409
    title = "Conflict"
    type_slug = "conflict"


class IllegalTransition(Conflict):
    """A state machine refused a transition; ``allowed`` names the legal targets."""

    title = "Illegal state transition"
    type_slug = "illegal-transition"

    def __init__(self, subject: str, current: str, target: str, allowed: Sequence[str]) -> None:
        allowed_txt = ", ".join(allowed) if allowed else "none"
        super().__init__(
            f"{subject} cannot go from '{current}' to '{target}'; allowed from '{current}': "
            f"{allowed_txt}"
        )
        self.current = current
        self.target = target
        self.allowed = tuple(allowed)


class RateLimited(TollwayError):
    status = 429
    title = "Too many requests"
    type_slug = "rate-limited"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class UnsafeUrl(InvalidInput):
    """An outbound URL was refused by the SSRF guard."""

    title = "URL not allowed"
    type_slug = "unsafe-url"


class FetchFailed(TollwayError):
    """An outbound fetch (OpenAPI URL) failed: timeout, too large, bad status."""

    status = 422
    title = "Fetch failed"
    type_slug = "fetch-failed"


class Unavailable(TollwayError):
    """A service Tollway depends on (the database) is unreachable or lost the change;
    nothing was stored and the caller may retry (503)."""

    status = 503
    title = "Service unavailable"
    type_slug = "unavailable"

    def __init__(self, detail: str, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class BillingProviderError(TollwayError):
    """The billing provider (Stripe) refused or failed a call."""

    status = 502
    title = "Billing provider error"
    type_slug = "billing-provider"


class ConfigurationError(TollwayError):
    """Settings are missing or invalid; raised at start, printed without a traceback."""

    status = 500
    title = "Configuration error"
    type_slug = "configuration"
