"""API resources; importing this package registers every route."""

from . import (  # noqa: F401
    account,
    checkout,
    coupons,
    customers,
    events,
    invoices,
    meters,
    payment_intents,
    portal,
    prices,
    products,
    schedules,
    search,
    subscriptions,
    test_clocks,
)
