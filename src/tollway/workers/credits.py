"""The credit keeper: burns prepaid balances in the credit ledger and tops them up.

Every run, for each prepaid subscription:

1. **Burn.** The usage charges of its lifetime calls in the usage ledger (priced by the
   pricing core, cumulatively) minus what earlier usage entries burned becomes one
   ``usage`` entry, referenced by the call count it prices up to — so the credit
   ledger reconciles with the usage ledger to the cent: the usage entries always sum
   to ``-usage_cost(calls priced so far)``.
2. **Top up.** When automatic top-up is on and the balance (credits minus the charges
   of every call admitted so far, not only the burned ones) is below its threshold, the
   saved card is charged and the amount credited (``billing.credits.auto_top_up``).

The gateway does not wait for either: it enforces ``credits`` as a count of calls
(see ``gateway.snapshot_sql.load_budgets``).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import Engine

from tollway.billing import credits
from tollway.billing.credentials import EngineProvider
from tollway.domain.clock import Clock, SystemClock
from tollway.domain.errors import TollwayError
from tollway.pricing.spec import parse_pricing
from tollway.pricing.spend import SpendRater
from tollway.store import credits_repo, db, ledger, plans_repo, subscriptions_repo

log = logging.getLogger(__name__)


class CreditKeeper:
    def __init__(self, engine: Engine, engines: EngineProvider, clock: Clock | None = None) -> None:
        self.engine = engine
        self.engines = engines
        self.clock = clock or SystemClock()

    def run_once(self) -> int:
        """Burn and top up every prepaid subscription; returns top-ups made."""
        with db.transaction(self.engine, read_only=True) as conn:
            accounts = credits_repo.accounts(conn)
        topped = 0
        for account in accounts:
            try:
                topped += self._keep(account)
            except TollwayError:
                log.exception("credit account %s", account["subscription_id"])
        return topped

    def _keep(self, account: dict[str, object]) -> int:
        sub_id = str(account["subscription_id"])
        now = self.clock.now()
        with db.transaction(self.engine) as conn:
            sub = subscriptions_repo.get_any(conn, sub_id)
            plan = plans_repo.get_any(conn, str(sub["plan_id"]))
            spec = parse_pricing(plan["pricing"], str(plan["currency"]), several_meters=True)
            rater = SpendRater(spec)
            meter = rater.only_meter
            if meter is None:
                return 0
            calls = ledger.calls_since(conn, sub_id, sub["billing_anchor"])
            mark = credits_repo.usage_mark(conn, sub_id)
            if calls > mark:
                burn = rater.usage_cost({meter: calls}) - rater.usage_cost({meter: mark})
                credits_repo.add_entry(
                    conn,
                    sub_id,
                    kind="usage",
                    amount=-burn,
                    reference=f"usage:{sub_id}:{calls}",
                    now=now,
                    calls_to=calls,
                )
            balance = credits_repo.credited(conn, sub_id) - rater.usage_cost({meter: calls})
        below, amount = account["auto_topup_below"], account["auto_topup_amount"]
        if sub["state"] != "active" or below is None or amount is None:
            return 0
        if balance >= Decimal(str(below)):
            return 0
        done = credits.auto_top_up(
            self.engine, self.engines, sub_id, Decimal(str(amount)), spec.currency, now
        )
        return int(done)
