"""Validating the Stripe keys an admin enters, before they are stored.

Checks, each refused with a message naming what is wrong:

1. the secret key has a Stripe secret/restricted key form (``sk_``/``rk_`` + mode) and
   the publishable key a publishable form (``pk_`` + mode), in the same mode
   (both test or both live);
2. the secret key works (an authenticated request succeeds);
3. both keys belong to the same account: the publishable key must be known to the
   account of the secret key (Stripe answers "publishable key" rather than "invalid
   key"), and keys of the modern form (``…_51<account>…``) must carry the same account
   fragment;
4. a restricted key (``rk_``) has every permission in ``REQUIRED_PERMISSIONS``. Each is
   probed with a request that cannot change anything (a list with ``limit=1``, or an
   update/creation that fails validation): Stripe checks permissions first, so a 403
   means "missing", anything else means "granted".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import stripe

from tollway.billing.stripe.client import make_client
from tollway.domain.errors import FieldError, InvalidInput

#: Permission (Stripe's name, as its 403 errors and the Dashboard's key links spell it:
#: prices are the legacy ``plan``, the billing portal ``customer_portal``) -> (method,
#: path) of a harmless probe. docs/stripe.md says which names are confirmed.
REQUIRED_PERMISSIONS: dict[str, tuple[str, str]] = {
    "rak_product_write": ("post", "/v1/products/prod_tollway_permission_probe"),
    "rak_plan_write": ("post", "/v1/prices/price_tollway_permission_probe"),
    "rak_billing_meter_write": ("post", "/v1/billing/meters/mtr_tollway_permission_probe"),
    "rak_billing_meter_event_write": ("post", "/v1/billing/meter_events"),
    "rak_customer_write": ("post", "/v1/customers/cus_tollway_permission_probe"),
    "rak_checkout_session_write": (
        "post",
        "/v1/checkout/sessions/cs_tollway_permission_probe/expire",
    ),
    "rak_customer_portal_write": ("post", "/v1/billing_portal/sessions"),
    "rak_subscription_write": ("post", "/v1/subscriptions/sub_tollway_permission_probe"),
    # the invoice list and the upcoming-invoice preview (POST /v1/invoices/create_preview:
    # a POST, so write; without parameters it fails validation after the permission check)
    "rak_invoice_write": ("post", "/v1/invoices/create_preview"),
}

_SECRET = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9_]{8,}$")
_PUBLISHABLE = re.compile(r"^pk_(test|live)_[A-Za-z0-9_]{8,}$")
_WEBHOOK = re.compile(r"^whsec_[A-Za-z0-9_+/=]{8,}$")


@dataclass(frozen=True, slots=True)
class KeyCheck:
    kind: str  # "secret" | "restricted"
    livemode: bool
    account_id: str | None


def _account_fragment(key: str) -> str | None:
    body = key.split("_", 2)[-1]
    return body[2:16] if body.startswith("51") and len(body) > 20 else None


def check_format(secret_key: str, publishable_key: str, webhook_secrets: list[str]) -> None:
    errs: list[FieldError] = []
    s = _SECRET.match(secret_key)
    p = _PUBLISHABLE.match(publishable_key)
    if not s:
        errs.append(
            FieldError(("secret_key",), "is not a Stripe secret (sk_…) or restricted (rk_…) key")
        )
    if not p:
        errs.append(FieldError(("publishable_key",), "is not a Stripe publishable key (pk_…)"))
    if s and p and s.group(2) != p.group(1):
        errs.append(
            FieldError(
                ("publishable_key",),
                f"is a {p.group(1)}-mode key but the secret key is a {s.group(2)}-mode key",
            )
        )
    fs, fp = _account_fragment(secret_key), _account_fragment(publishable_key)
    if s and p and fs and fp and fs != fp:
        errs.append(FieldError(("publishable_key",), "belongs to another Stripe account"))
    if not webhook_secrets:
        errs.append(FieldError(("webhook_secret",), "is required (whsec_…)"))
    for i, w in enumerate(webhook_secrets):
        if not _WEBHOOK.match(w):
            errs.append(
                FieldError(("webhook_secret", i), "is not a webhook signing secret (whsec_…)")
            )
    if errs:
        raise InvalidInput("; ".join(f"{e.pointer} {e.message}" for e in errs), errs)


def _probe(client: stripe.StripeClient, method: str, path: str) -> int:
    try:
        client.raw_request(method, path)
    except stripe.StripeError as err:
        return int(err.http_status or 0)
    return 200


def validate_keys(
    secret_key: str,
    publishable_key: str,
    webhook_secrets: list[str],
    *,
    base_url: str | None = None,
) -> KeyCheck:
    """Run every check; raises ``InvalidInput`` naming the first field that is wrong."""
    check_format(secret_key, publishable_key, webhook_secrets)
    livemode = "_live_" in secret_key
    kind = "restricted" if secret_key.startswith("rk_") else "secret"
    client = make_client(secret_key, base_url=base_url, max_network_retries=0)
    account_id: str | None = None
    try:
        account_id = client.v1.accounts.retrieve_current().id
    except stripe.AuthenticationError:
        raise InvalidInput.at(("secret_key",), "is not accepted by Stripe (invalid key)") from None
    except stripe.PermissionError:
        account_id = None  # a restricted key without account access: fine
    except stripe.StripeError as err:
        raise InvalidInput.at(("secret_key",), f"could not be checked: {err}") from None
    pk_client = make_client(publishable_key, base_url=base_url, max_network_retries=0)
    try:
        pk_client.v1.accounts.retrieve_current()
    except stripe.AuthenticationError as err:
        if "publishable" not in str(err).lower():
            raise InvalidInput.at(
                ("publishable_key",), "is not a key of the secret key's Stripe account"
            ) from None
    except stripe.StripeError:
        pass
    if kind == "restricted":
        missing = [
            perm
            for perm, (method, path) in REQUIRED_PERMISSIONS.items()
            if _probe(client, method, path) == 403
        ]
        if missing:
            raise InvalidInput.at(
                ("secret_key",),
                "the restricted key lacks permission(s) Tollway needs: " + ", ".join(missing),
            )
    return KeyCheck(kind=kind, livemode=livemode, account_id=account_id)
