"""API resources; importing this package registers every route."""

from . import (  # noqa: F401
    account,
    checkout,
    customers,
    events,
    invoices,
    meters,
    portal,
    prices,
    products,
    search,
    subscriptions,
    test_clocks,
)
