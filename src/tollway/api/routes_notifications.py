"""Spend alerts and notifications: alert thresholds on a subscription, webhook endpoints,
the notifications received and each delivery (with replay)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import Field

from tollway.api.deps import Caller, Conn, Ctx
from tollway.api.schemas import In, Out
from tollway.services import notifications

router = APIRouter(tags=["spend controls"])


class AlertIn(In):
    metric: Literal["quota", "budget"]
    thresholds: list[int] = Field(..., description="Percents, e.g. [50, 80, 100]")


class FiringOut(Out):
    threshold: int
    period_start_ms: int
    value: str
    fired_at: datetime


class AlertOut(Out):
    id: str
    subscription_id: str
    metric: str
    thresholds: list[int]
    created_by: str
    created_at: datetime
    fired: list[FiringOut] = []


class EndpointIn(In):
    url: str = Field(..., max_length=2000)
    events: list[str] | None = Field(None, description="Event types; omit for all")


class EndpointOut(Out):
    id: str
    url: str
    events: list[str] | None
    disabled: bool
    created_at: datetime


class EndpointCreatedOut(EndpointOut):
    secret: str = Field(description="Signing secret (whsec_…), shown once")


class NotificationOut(Out):
    id: str
    type: str
    data: dict[str, Any]
    created_at: datetime


class DeliveryOut(Out):
    id: str
    notification_id: str
    type: str
    endpoint_id: str | None
    channel: Literal["webhook", "email"]
    address: str
    status: Literal["pending", "delivered", "failed", "skipped"]
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


@router.post(
    "/api/v1/subscriptions/{sub_id}/alerts",
    response_model=AlertOut,
    status_code=status.HTTP_201_CREATED,
)
def create_alert(sub_id: str, body: AlertIn, ctx: Ctx, conn: Conn, caller: Caller) -> AlertOut:
    """Thresholds on the quota or the budget; each fires once per billing period as an
    ``alert.triggered`` notification to you."""
    row = notifications.create_alert(
        ctx, conn, caller, sub_id, metric=body.metric, thresholds=body.thresholds
    )
    return AlertOut.model_validate(row)


@router.get("/api/v1/subscriptions/{sub_id}/alerts", response_model=list[AlertOut])
def list_alerts(sub_id: str, conn: Conn, caller: Caller) -> list[AlertOut]:
    return [AlertOut.model_validate(a) for a in notifications.alerts(conn, caller, sub_id)]


@router.delete("/api/v1/subscriptions/{sub_id}/alerts/{alert_id}", status_code=204)
def delete_alert(sub_id: str, alert_id: str, conn: Conn, caller: Caller) -> None:
    notifications.delete_alert(conn, caller, sub_id, alert_id)


@router.post(
    "/api/v1/notification-endpoints",
    response_model=EndpointCreatedOut,
    status_code=status.HTTP_201_CREATED,
)
def create_endpoint(body: EndpointIn, ctx: Ctx, conn: Conn, caller: Caller) -> EndpointCreatedOut:
    """Register a URL for signed notification webhooks (see docs/spend-controls.md for
    the ``Tollway-Signature`` scheme). The secret is shown once."""
    row = notifications.create_endpoint(ctx, conn, caller, url=body.url, events=body.events)
    return EndpointCreatedOut.model_validate(row)


@router.get("/api/v1/notification-endpoints", response_model=list[EndpointOut])
def list_endpoints(conn: Conn, caller: Caller) -> list[EndpointOut]:
    return [EndpointOut.model_validate(e) for e in notifications.endpoints(conn, caller)]


@router.delete("/api/v1/notification-endpoints/{endpoint_id}", status_code=204)
def delete_endpoint(endpoint_id: str, conn: Conn, caller: Caller) -> None:
    notifications.delete_endpoint(conn, caller, endpoint_id)


@router.get(
    "/api/v1/notification-endpoints/{endpoint_id}/deliveries", response_model=list[DeliveryOut]
)
def endpoint_deliveries(endpoint_id: str, conn: Conn, caller: Caller) -> list[DeliveryOut]:
    rows = notifications.deliveries(conn, caller, endpoint_id)
    return [DeliveryOut.model_validate(r) for r in rows]


@router.get("/api/v1/notifications", response_model=list[NotificationOut])
def list_notifications(conn: Conn, caller: Caller) -> list[NotificationOut]:
    """Your latest notifications (50)."""
    return [NotificationOut.model_validate(n) for n in notifications.received(conn, caller)]


@router.get("/api/v1/notification-deliveries", response_model=list[DeliveryOut])
def list_deliveries(conn: Conn, caller: Caller) -> list[DeliveryOut]:
    """Every delivery of your notifications (webhook and email), newest first."""
    return [DeliveryOut.model_validate(r) for r in notifications.deliveries(conn, caller)]


@router.post("/api/v1/notification-deliveries/{delivery_id}/replay", response_model=DeliveryOut)
def replay(delivery_id: str, ctx: Ctx, conn: Conn, caller: Caller) -> DeliveryOut:
    """Send a delivery again now, whatever its outcome so far."""
    return DeliveryOut.model_validate(notifications.replay(ctx, conn, caller, delivery_id))
