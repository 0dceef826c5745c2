"""A usage sync worker in its own process, for the crash test.

Usage: python -m tests.billing.usage_worker_proc <data_dir> <database_url> <stripe_base> <marker>
[<batch>]
Runs one flush (pushing ``batch`` meter events per request round, default 200); right
after Stripe accepted the first round and BEFORE they are marked sent,
it writes ``marker`` and hangs, waiting to be killed with SIGKILL.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tollway.runtime import build_context
from tollway.settings import load_settings


def main() -> None:
    data_dir, database_url, base, marker = sys.argv[1:5]
    settings = load_settings(
        data_dir=Path(data_dir), database_url=database_url, stripe_api_base=base
    )
    ctx = build_context(settings, migrate=False)
    usage = ctx.billing.usage
    if len(sys.argv) > 5:
        usage.batch = int(sys.argv[5])

    def hang(accepted: Sequence[str]) -> None:
        # written whole, then renamed: the test never reads a half-written marker
        partial = Path(marker + ".partial")
        partial.write_text(",".join(accepted))
        partial.replace(marker)
        while True:
            time.sleep(3600)

    usage.after_push = hang
    usage.flush()


if __name__ == "__main__":
    main()
