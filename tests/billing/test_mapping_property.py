"""Property: the Stripe price Tollway provisions for a pricing charges, for any usage,
exactly what Tollway's own rating says (to the cent). The Stripe side is computed the way
Stripe computes metered prices (``tollway.billing.memory.usage_amount_minor``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tollway.billing.memory import usage_amount_minor
from tollway.billing.plans import plan_billing_spec
from tollway.domain.money import to_minor
from tollway.metering.meters import DEFAULT_METER
from tollway.pricing.rating import rate
from tollway.pricing.spec import parse_pricing

amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("5"), places=4)


@st.composite
def pricings(draw: Any) -> dict[str, Any]:
    model = draw(st.sampled_from(["unit", "package", "graduated", "volume"]))
    included = draw(st.sampled_from([0, 0, 10, 100])) if model in ("unit", "graduated") else 0
    usage: dict[str, Any] = {"meter": "requests", "model": model}
    if model in ("unit", "package"):
        usage["unit_amount"] = str(draw(amounts))
        if model == "package":
            usage["package_size"] = draw(st.integers(1, 1000))
    else:
        bounds = sorted(set(draw(st.lists(st.integers(1, 500), min_size=1, max_size=3))))
        usage["tiers"] = [
            {
                "up_to": b,
                "unit_amount": str(draw(amounts)),
                "flat_amount": str(draw(st.decimals(0, 20, places=2))),
            }
            for b in bounds
        ] + [{"up_to": None, "unit_amount": str(draw(amounts)), "flat_amount": "0"}]
    return {"included_units": included, "usage": usage}


@settings(max_examples=300, deadline=None)
@given(pricing=pricings(), quantity=st.integers(0, 2000))
def test_provisioned_price_charges_what_tollway_rates(
    pricing: dict[str, Any], quantity: int
) -> None:
    spec = parse_pricing(pricing, "USD")
    billing = plan_billing_spec(
        plan_id="p",
        api_id="a",
        name="n",
        billing_interval="month",
        pricing=spec,
        meters={"requests": DEFAULT_METER},
    )
    tollway = to_minor(rate(spec, "USD", quantity).total, "USD")
    if billing.usage is None:
        assert tollway == 0
        return
    assert usage_amount_minor(billing.usage, quantity) == tollway
