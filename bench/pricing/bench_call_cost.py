"""Cost of one call on the gateway's hot path: ``SpendRater.call_cost`` calls per second
on one core, for a unit price, a hybrid plan (included units) and a 4-tier graduated
price on two meters. Prints calls/s; asserts nothing about time.

    .venv/bin/python bench/pricing/bench_call_cost.py
"""

from __future__ import annotations

import timeit
from decimal import Decimal

from tollway.pricing.spec import parse_pricing
from tollway.pricing.spend import SpendRater

PLANS = {
    "unit $0.02": {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}},
    "hybrid (10k included)": {
        "flat_fee": "49.00",
        "included_units": 10000,
        "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.002"},
    },
    "two meters, 4 graduated tiers": {
        "usage": [
            {
                "meter": "requests",
                "model": "graduated",
                "tiers": [
                    {"up_to": 1000, "unit_amount": "0"},
                    {"up_to": 10000, "unit_amount": "0.002"},
                    {"up_to": 100000, "unit_amount": "0.0015"},
                    {"up_to": None, "unit_amount": "0.001"},
                ],
            },
            {"meter": "tokens", "model": "package", "unit_amount": "0.01", "package_size": 1000},
        ]
    },
}


def main() -> None:
    for name, data in PLANS.items():
        rater = SpendRater(parse_pricing(data, "USD", several_meters=True))
        so_far = {"requests": Decimal(123_456), "tokens": Decimal(9_876_543)}
        call = {"requests": Decimal(1), "tokens": Decimal(812)}
        n = 100_000
        best = min(timeit.repeat(lambda: rater.call_cost(so_far, call), number=n, repeat=5))
        print(f"{name:32s} {n / best:12,.0f} calls/s  ({best / n * 1e6:.2f} us per call)")


if __name__ == "__main__":
    main()
