"""An organization's tax setting (``tax_settings``): absent means no Stripe Tax."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from tollway.domain.tax import NO_TAX, TaxSettings
from tollway.store.selling_tables import tax_settings as t


def get(conn: Connection, organization_id: str) -> TaxSettings:
    row = conn.execute(select(t).where(t.c.organization_id == organization_id)).first()
    if row is None:
        return NO_TAX
    return TaxSettings(
        automatic_tax=bool(row.automatic_tax),
        tax_id_collection=bool(row.tax_id_collection),
        billing_address_collection="required"
        if row.billing_address_collection == "required"
        else "auto",
    )


def put(conn: Connection, organization_id: str, value: TaxSettings, now: datetime) -> None:
    values = {
        "automatic_tax": value.automatic_tax,
        "tax_id_collection": value.tax_id_collection,
        "billing_address_collection": value.billing_address_collection,
        "updated_at": now,
    }
    done = conn.execute(update(t).where(t.c.organization_id == organization_id).values(**values))
    if done.rowcount == 0:
        conn.execute(t.insert().values(organization_id=organization_id, **values))
