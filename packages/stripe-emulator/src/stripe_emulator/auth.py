"""API keys: who is calling, and may this key call this endpoint.

Restricted keys carry Stripe's permission names, ``rak_<resource>_<read|write>``, where
write implies read; a route's ``resource`` is that name's middle part (``plan`` for
prices, ``customer_portal`` for the billing portal: Stripe's own names). GET needs read,
every other method write.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from . import errors

if TYPE_CHECKING:
    from .runtime import Runtime

_NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)
_PUBLISHABLE = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. "
    "You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
)
#: Endpoints a publishable key may call, as Stripe.js does.
PUBLISHABLE_OK = {("POST", "/v1/payment_methods")}


def api_key_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    if auth.lower().startswith("basic "):
        try:
            return base64.b64decode(auth[6:]).decode().split(":", 1)[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def permission_for(method: str, resource: str) -> str:
    return f"rak_{resource}_{'read' if method == 'GET' else 'write'}"


def authorize(
    rt: Runtime, key: str | None, method: str, path: str, resource: str | None
) -> dict[str, Any]:
    """The key's record, or the error Stripe gives for this key on this endpoint."""
    if not key:
        raise errors.StripeError(401, _NO_KEY)
    info = rt.state.keys.get(key)
    if info is None:
        raise errors.StripeError(401, f"Invalid API Key provided: {errors.mask(key)}")
    account = info.get("account") or rt.state.account_id
    if info["type"] == "publishable" and (method, path) not in PUBLISHABLE_OK:
        raise errors.StripeError(401, _PUBLISHABLE)
    if info["type"] == "restricted" and resource:
        granted = set(info["permissions"])
        needed = permission_for(method, resource)
        if needed not in granted and f"rak_{resource}_write" not in granted:
            raise errors.StripeError(
                403,
                f"The provided key '{errors.mask(key)}' does not have the required "
                f"permissions for this endpoint on account '{account}'. Having the "
                f"'{needed}' permission would allow this request to continue.",
            )
    return info
