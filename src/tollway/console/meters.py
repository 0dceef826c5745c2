"""Meters: the built-in one and the organization's own, created with filters (API,
method, status class, environment) and a metric (count, sum/max/last of a field,
distinct consumers/apps/keys); "test the meter" applies it to the latest ledger events."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import Conflict, InvalidInput
from tollway.domain.principal import Principal
from tollway.http.deps import Conn, Ctx
from tollway.services import catalog, meter_tests, plans
from tollway.web import FormState, page_router, pages_of, read_form, redirect

from .access import publisher

router = page_router("/console/meters")

AGGREGATIONS = (
    ("count", "Count the events"),
    ("sum", "Sum of a number"),
    ("max", "Maximum of a number"),
    ("last", "Last value of a number"),
    ("distinct", "Distinct consumers, applications or keys"),
)
FIELDS = (
    ("", "— (count needs none)"),
    ("request_bytes", "Request bytes"),
    ("response_bytes", "Response bytes"),
    ("latency_ms", "Latency (ms)"),
    ("usage_value", "Usage value (from the usage header)"),
    ("consumer_id", "Consumer (distinct)"),
    ("application_id", "Application (distinct)"),
    ("credential_id", "Key (distinct)"),
)
STATUS = (("2", "Successful (2xx) only"), ("all", "Every status"), ("4", "4xx"), ("5", "5xx"))
ENVIRONMENTS = (("", "Both"), ("production", "Production"), ("development", "Development"))
ALIASES = {"definition": ""}


class MeterForm(BaseModel):
    key: str = Field(max_length=100, title="Key")
    name: str | None = Field(None, max_length=200, title="Name")
    aggregation: Literal["count", "sum", "max", "last", "distinct"] = "count"
    field: str | None = Field(None, max_length=40, title="Field")
    api_id: str | None = Field(None, max_length=64, title="API")
    methods: str | None = Field(None, max_length=200, title="Methods")
    status: Literal["2", "4", "5", "all"] = "2"
    environment: Literal["production", "development"] | None = None

    def definition(self) -> dict[str, Any]:
        metric: dict[str, Any] = {"aggregation": self.aggregation}
        if self.field:
            metric["field"] = self.field
        filt: dict[str, Any] = {
            "status_classes": None if self.status == "all" else [int(self.status)]
        }
        if self.api_id:
            filt["api_ids"] = [self.api_id]
        if self.methods:
            filt["methods"] = [m.strip().upper() for m in self.methods.split(",") if m.strip()]
        if self.environment:
            filt["environments"] = [self.environment]
        out: dict[str, Any] = {"key": self.key.strip(), "metric": metric, "filter": filt}
        if self.name:
            out["name"] = self.name
        return out


def _context(
    conn: Connection, user: Principal, form: FormState, trial: Any = None
) -> dict[str, Any]:
    apis = catalog.list_apis(conn, user, limit=200, after=None).items
    mine = [a for a in apis if user.is_admin or a["organization_id"] == user.organization_id]
    return {
        "meters": plans.list_meters(conn, user),
        "form": form,
        "trial": trial,
        "aggregations": AGGREGATIONS,
        "fields": FIELDS,
        "statuses": STATUS,
        "environments": ENVIRONMENTS,
        "apis": [("", "Every API"), *((str(a["id"]), str(a["name"])) for a in mine)],
    }


@router.get("")
def meters_page(request: Request, conn: Conn) -> Response:
    user = publisher(request)
    form = FormState(values={"aggregation": "count", "status": "2"})
    return pages_of(request).render(request, "console/meters.html", _context(conn, user, form))


@router.post("")
def create_or_test(request: Request, ctx: Ctx, conn: Conn) -> Response:
    """ "Create meter" stores it; "Test the meter" (``action=test``) only measures."""
    user = publisher(request)
    model, form = read_form(request, MeterForm)
    trial = None
    if model is not None:
        try:
            if form.value("action") == "test":
                trial = meter_tests.try_meter(conn, user, model.definition())
            else:
                meter = plans.create_meter(ctx, conn, user, model.definition())
                response = redirect(request, "/console/meters")
                pages_of(request).add_flash(
                    request, response, "success", f"Meter “{meter['key']}” created."
                )
                return response
        except InvalidInput as exc:
            form.add_invalid_input(exc, aliases=ALIASES)
        except Conflict as exc:
            form.add("key", exc.detail)
    status = 422 if form.has_errors else 200
    return pages_of(request).render(
        request, "console/meters.html", _context(conn, user, form, trial), status=status
    )
