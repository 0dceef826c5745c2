"""Pure parts: webhook signatures, the access table, usage windows, plan mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tollway.billing.plans import plan_billing_spec
from tollway.billing.stripe import STRIPE_API_VERSION, mapping
from tollway.domain.errors import InvalidInput
from tollway.domain.subscriptions import SubState
from tollway.metering.meters import DEFAULT_METER, parse_meter
from tollway.metering.usage_windows import identifier, window_of
from tollway.pricing.spec import parse_pricing
from tollway.webhooks import access
from tollway.webhooks.signature import SignatureError, header, sign, verify

TOKENS = parse_meter({"key": "tokens", "metric": {"aggregation": "sum", "field": "usage_value"}})

BODY = b'{"id": "evt_1", "type": "checkout.session.completed"}'
NOW = 1_800_000_000


def test_api_version_is_pinned_to_the_sdk() -> None:
    from stripe._api_version import _ApiVersion

    assert STRIPE_API_VERSION == _ApiVersion.CURRENT


def test_signature_accepts_a_valid_delivery() -> None:
    assert verify(BODY, header(BODY, ["whsec_a"], NOW), ["whsec_a"], now=NOW) == 0


def test_signature_accepts_any_of_several_v1_and_secrets() -> None:
    h = header(BODY, ["whsec_old", "whsec_new"], NOW)
    assert verify(BODY, h, ["whsec_new"], now=NOW) == 0
    assert (
        verify(
            BODY,
            f"t={NOW},v1=deadbeef,v1={sign(BODY, 'whsec_b', NOW)}",
            ["whsec_a", "whsec_b"],
            now=NOW,
        )
        == 1
    )


@pytest.mark.parametrize(
    "hdr, secrets, now, message",
    [
        (None, ["whsec_a"], NOW, "missing"),
        (header(BODY, ["whsec_a"], NOW - 301), ["whsec_a"], NOW, "too old"),
        (header(BODY, ["whsec_a"], NOW + 301), ["whsec_a"], NOW, "future"),
        (header(BODY, ["whsec_other"], NOW), ["whsec_a"], NOW, "no signature matches"),
        (f"t={NOW}", ["whsec_a"], NOW, "no v1"),
        (f"v1={sign(BODY, 'whsec_a', NOW)}", ["whsec_a"], NOW, "no timestamp"),
        (f"t={NOW},v0={sign(BODY, 'whsec_a', NOW)}", ["whsec_a"], NOW, "no v1"),
    ],
)
def test_signature_refusals(hdr: str | None, secrets: list[str], now: int, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify(BODY, hdr, secrets, now=now)


def test_signature_is_on_the_raw_body() -> None:
    h = header(BODY, ["whsec_a"], NOW)
    with pytest.raises(SignatureError):
        verify(BODY.replace(b": ", b":"), h, ["whsec_a"], now=NOW)
    assert verify(BODY, h, ["whsec_a"], now=NOW + 300) == 0


T0 = datetime(2026, 1, 1, tzinfo=UTC)
GRACE = timedelta(days=3)


@pytest.mark.parametrize(
    "status, invoice, since, now, target",
    [
        ("active", "paid", None, T0, SubState.ACTIVE),
        ("trialing", None, None, T0, SubState.ACTIVE),
        ("active", "open", None, T0, None),
        ("past_due", "open", None, T0, None),
        ("past_due", "open", T0, T0 + timedelta(days=2), None),
        ("past_due", "open", T0, T0 + timedelta(days=3), SubState.BLOCKED),
        ("unpaid", "open", None, T0, SubState.BLOCKED),
        ("paused", None, None, T0, SubState.BLOCKED),
        ("canceled", "paid", None, T0, SubState.CANCELLED),
        ("incomplete_expired", None, None, T0, SubState.CANCELLED),
        ("incomplete", "open", None, T0, None),
    ],
)
def test_access_table(
    status: str, invoice: str | None, since: datetime | None, now: datetime, target: SubState | None
) -> None:
    d = access.decide(
        status=status, latest_invoice_status=invoice, past_due_since=since, now=now, grace=GRACE
    )
    assert d.target == target
    if status == "past_due":
        assert d.past_due_since == (since or now)


def test_unblock_only_from_blocked_and_failed_old_invoice_does_not_block() -> None:
    d = access.decide(
        status="active", latest_invoice_status="paid", past_due_since=None, now=T0, grace=GRACE
    )
    assert d.only_from == (SubState.BLOCKED,)
    assert not access.action_required_blocks(
        event_invoice_id="in_old", latest_invoice_id="in_new", latest_status="paid"
    )
    assert access.action_required_blocks(
        event_invoice_id="in_new", latest_invoice_id="in_new", latest_status="open"
    )


def test_windows_split_at_period_boundaries_and_identifiers_are_deterministic() -> None:
    w = window_of(125_000, 60_000)
    assert (w.start_ms, w.end_ms, w.timestamp_s) == (120_000, 180_000, 120)
    b = 150_000
    assert window_of(149_999, 60_000, [b]).end_ms == b
    after = window_of(150_000, 60_000, [b])
    assert (after.start_ms, after.end_ms, after.timestamp_s) == (b, 180_000, 150)
    assert identifier("sub_1", "requests", 120_000, 0) == identifier(
        "sub_1", "requests", 120_000, 0
    )
    assert identifier("sub_1", "requests", 120_000, 0) != identifier(
        "sub_1", "requests", 120_000, 1
    )
    assert len(identifier("sub_" + "X" * 36, "m" * 100, 10**13, 99)) <= 100


def _spec(pricing: dict[str, object]) -> object:
    return plan_billing_spec(
        plan_id="plan_1",
        api_id="api_1",
        name="A — P",
        billing_interval="quarter",
        pricing=parse_pricing(pricing, "USD"),
        meters={"requests": DEFAULT_METER},
    )


def test_mapping_of_each_price_model() -> None:
    unit = _spec({"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}})
    body = mapping.usage_price_params(unit, "prod_1", "mtr_1")  # type: ignore[arg-type]
    assert body["unit_amount_decimal"] == Decimal("2")
    assert body["recurring"] == {
        "interval": "month",
        "interval_count": 3,
        "usage_type": "metered",
        "meter": "mtr_1",
    }
    pkg = _spec(
        {
            "usage": {
                "meter": "requests",
                "model": "package",
                "unit_amount": "5",
                "package_size": 1000,
            }
        }
    )
    body = mapping.usage_price_params(pkg, "prod_1", "mtr_1")  # type: ignore[arg-type]
    assert body["transform_quantity"] == {"divide_by": 1000, "round": "up"}
    grad = _spec(
        {
            "included_units": 10,
            "usage": {
                "meter": "requests",
                "model": "graduated",
                "tiers": [
                    {"up_to": 10, "unit_amount": "1.00"},
                    {"up_to": None, "unit_amount": "0.5", "flat_amount": "2"},
                ],
            },
        }
    )
    body = mapping.usage_price_params(grad, "prod_1", "mtr_1")  # type: ignore[arg-type]
    assert body["tiers_mode"] == "graduated"
    assert [t["up_to"] for t in body["tiers"]] == [10, 20, "inf"]
    assert body["tiers"][0]["unit_amount_decimal"] == Decimal("0")
    assert body["tiers"][2]["flat_amount_decimal"] == Decimal("200")
    flat = _spec({"flat_fee": "999.00"})
    assert mapping.flat_price_params(flat, "prod_1")["unit_amount"] == 99900  # type: ignore[arg-type]


def test_changed_price_gets_a_new_lookup_key() -> None:
    a = _spec({"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}})
    b = _spec({"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.03"}})
    assert mapping.lookup_key(a, "usage") == mapping.lookup_key(a, "usage")  # type: ignore[arg-type]
    assert mapping.lookup_key(a, "usage") != mapping.lookup_key(b, "usage")  # type: ignore[arg-type]


def test_package_with_included_units_is_refused() -> None:
    with pytest.raises(InvalidInput, match="package"):
        _spec(
            {
                "included_units": 5,
                "usage": {
                    "meter": "requests",
                    "model": "package",
                    "unit_amount": "5",
                    "package_size": 10,
                },
            }
        )


def test_meter_event_names_cut_to_stripe_limit_never_collide() -> None:
    from tollway.billing.engine import PlanBillingSpec, UsagePriceSpec

    def spec(meter: str) -> PlanBillingSpec:
        usage = UsagePriceSpec(meter_key=meter, aggregation="sum", scheme="per_unit")
        return PlanBillingSpec(
            "pln_" + "p" * 26, "api_" + "a" * 26, "Plan", "USD", "month", 1, 0, usage
        )

    long_a, long_b = "m" * 60 + "_reads", "m" * 60 + "_write"
    names = {mapping.meter_event_name(spec(m)) for m in (long_a, long_b)}
    assert len(names) == 2 and all(len(n) <= 100 for n in names)
    short = mapping.meter_event_name(spec("requests"))  # short names are unchanged
    assert short == f"tollway.api_{'a' * 26}.pln_{'p' * 26}.requests"
    assert mapping.meter_event_name(spec(long_a)) == mapping.meter_event_name(spec(long_a))


def test_several_usage_prices_one_provider_price_each() -> None:
    tokens = {"meter": "tokens", "model": "package", "unit_amount": "0.01", "package_size": 1000}
    pricing = {"usage": [{"meter": "requests", "model": "unit", "unit_amount": "0.002"}, tokens]}
    spec = plan_billing_spec(
        plan_id="plan_1",
        api_id="api_1",
        name="A — AI",
        billing_interval="month",
        pricing=parse_pricing(pricing, "USD", several_meters=True),
        meters={"requests": DEFAULT_METER, "tokens": TOKENS},
    )
    assert [u.meter_key for u in spec.usages] == ["requests", "tokens"]
    req, tok = (spec.for_meter(u) for u in spec.usages)
    assert mapping.usage_price_params(req, "prod_1", "mtr_1")["unit_amount_decimal"] == Decimal(
        "0.2"
    )
    body = mapping.usage_price_params(tok, "prod_1", "mtr_2")
    assert body["unit_amount_decimal"] == Decimal("1")
    assert body["transform_quantity"] == {"divide_by": 1000, "round": "up"}
    assert mapping.meter_event_name(req) == "tollway.api_1.plan_1.requests"
    assert mapping.meter_event_name(tok) == "tollway.api_1.plan_1.tokens"
    assert mapping.lookup_key(req, "usage") != mapping.lookup_key(tok, "usage")


def test_several_usage_prices_refusal_is_located_at_the_price() -> None:
    bad = {"meter": "tokens", "model": "package", "unit_amount": "1", "package_size": 10}
    pricing = {
        "usage": [
            {"meter": "requests", "model": "unit", "unit_amount": "0.002"},
            {**bad, "included_units": 100},
        ]
    }
    with pytest.raises(InvalidInput) as exc:
        plan_billing_spec(
            plan_id="plan_1",
            api_id="api_1",
            name="A — AI",
            billing_interval="month",
            pricing=parse_pricing(pricing, "USD", several_meters=True),
            meters={"requests": DEFAULT_METER, "tokens": TOKENS},
        )
    assert exc.value.errors[0].loc == ("pricing", "usage", 1, "included_units")
