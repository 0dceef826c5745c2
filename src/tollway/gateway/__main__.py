"""``python -m tollway.gateway '<settings JSON>'``: run a gateway without the CLI.

The JSON object holds ``GatewaySettings`` fields, e.g.
``{"port": 8080, "database_url": "sqlite:///data/tollway.db", "workers": 2}``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields

from tollway.gateway.logs import configure_json_logging
from tollway.gateway.settings import GatewaySettings
from tollway.gateway.supervisor import main_gateway


def main(argv: list[str]) -> None:
    raw = json.loads(argv[1]) if len(argv) > 1 else {}
    known = {f.name for f in fields(GatewaySettings)}
    unknown = set(raw) - known
    if unknown:
        raise SystemExit(f"unknown gateway settings: {', '.join(sorted(unknown))}")
    configure_json_logging()
    main_gateway(GatewaySettings(**raw))


if __name__ == "__main__":
    main(sys.argv)
