"""Notification event types and how each reads in an email (title, summary, facts).

Pure: no I/O. The payload of every channel is ``{"id", "type", "created", "data"}``.
"""

from __future__ import annotations

from typing import Any

#: Every event a user can be notified of.
EVENT_TYPES = (
    "alert.triggered",
    "subscription.state_changed",
    "payment.failed",
    "invoice.ready",
    "key.created",
    "key.revoked",
)


def describe(type_: str, data: dict[str, Any]) -> tuple[str, str, list[tuple[str, str]]]:
    """(title, one-line summary, facts) of an event for a human reader."""
    facts = [(k.replace("_", " ").capitalize(), str(v)) for k, v in data.items() if v is not None]
    if type_ == "alert.triggered":
        what = "quota" if data.get("metric") == "quota" else "budget"
        title = f"{data.get('threshold')} % of your {what} used"
        summary = (
            f"Subscription {data.get('subscription_id')} has used {data.get('value')} of its "
            f"{what} of {data.get('limit')} this billing period."
        )
    elif type_ == "subscription.state_changed":
        title = f"Subscription {data.get('to_state', '').replace('_', ' ')}"
        summary = (
            f"Subscription {data.get('subscription_id')} went from {data.get('from_state')} "
            f"to {data.get('to_state')}."
        )
    elif type_ == "payment.failed":
        title = "A payment failed"
        summary = "A payment for your subscription failed; update your payment method."
    elif type_ == "invoice.ready":
        title = "Your invoice is ready"
        summary = "A new invoice is ready."
    elif type_ == "key.created":
        title = "A new API key was created"
        app = data.get("application_id")
        summary = f"The key {data.get('prefix')}… was created for application {app}."
    elif type_ == "key.revoked":
        title = "An API key was revoked"
        app = data.get("application_id")
        summary = f"The key {data.get('prefix')}… of application {app} was revoked."
    else:
        title, summary = type_, type_
    return title, summary, facts
