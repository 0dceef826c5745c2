"""A bounded schemathesis run over /api/v1/openapi.json: no 5xx, responses match the schema.

Each operation gets a few generated requests (deterministic, no example database) sent to
the ASGI app as the admin, each sent twice: as generated, and with the path parameters and
body ids replaced by ids of real objects so that the handlers get past their 404s. Every
failure is collected and reported together.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support.actors import Actor
from tests.support.catalog import Catalog

MAX_EXAMPLES = 8
NEGATIVE_EXAMPLES = 4
CHECKS = [not_a_server_error, response_schema_conformance]


def _seed(cat: Catalog, make_actor: Any) -> dict[str, str]:
    """Real objects; returns their ids by the parameter names the routes use."""
    pub, con = make_actor("publisher"), make_actor("consumer")
    api = cat.api(pub, "books")
    plan = cat.plan(pub, "Free", api_id=api["id"])
    cat.plan(
        pub,
        "Pro",
        {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.1"}},
        api_id=api["id"],
    )
    app_row = cat.app(con)
    key = con.post(f"/api/v1/applications/{app_row['id']}/keys", json={}).json()
    client = con.post(f"/api/v1/applications/{app_row['id']}/oauth-clients", json={}).json()
    cat.last_consumer_token = con.token
    cat.last_publisher_token = pub.token
    sub = cat.subscribe(con, app_row["id"], api["id"], plan["id"])
    assert sub.status_code == 201, sub.text
    return {
        "api_id": api["id"],
        "plan_id": plan["id"],
        "app_id": app_row["id"],
        "application_id": app_row["id"],
        "sub_id": sub.json()["id"],
        "key_id": key["id"],
        "client_row_id": client["id"],
        "user_id": con.id,
        "environment": "production",
    }


def _use_real_ids(case: Any, ids: dict[str, str]) -> bool:
    """Point the case at real objects; False when it has no ids to replace."""
    changed = False
    if case.path_parameters:
        case.path_parameters = {k: ids.get(k, v) for k, v in case.path_parameters.items()}
        changed = True
    if isinstance(case.body, dict) and any(k in ids for k in case.body):
        case.body = {k: ids.get(k, v) for k, v in case.body.items()}
        changed = True
    return changed


def _run(
    schema: Any, headers: dict[str, str], ids: dict[str, str], *, negative: bool, max_examples: int
) -> list[str]:
    mode = GenerationMode.NEGATIVE if negative else GenerationMode.POSITIVE
    checks = [not_a_server_error] if negative else CHECKS
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if negative and not (len(operation.body) or len(operation.query)):
            continue  # only path parameters: plain strings, nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=max_examples,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=checks)
            if _use_real_ids(case, ids):
                case.call_and_validate(headers=headers, checks=checks)

        try:
            run()
        except Unsatisfiable:
            pass  # negative mode: nothing in this operation can be made invalid
        except Exception as exc:  # collect, report every operation at once
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return failures


#: Who runs the positive-mode check, with how many generated requests per operation: the
#: admin reaches every operation; the consumer owns the seeded application and
#: subscription, the publisher the seeded API and plans.
ROLES = {"admin": MAX_EXAMPLES, "publisher": NEGATIVE_EXAMPLES, "consumer": NEGATIVE_EXAMPLES}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_api_conforms_to_its_schema(
    role: str, app: Any, admin: Actor, cat: Catalog, make_actor: Any
) -> None:
    ids = _seed(cat, make_actor)
    tokens = {
        "admin": admin.token,
        "publisher": cat.last_publisher_token,
        "consumer": cat.last_consumer_token,
    }
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    assert len(list(schema.get_all_operations())) > 30
    failures = _run(
        schema,
        {"Authorization": f"Bearer {tokens[role]}"},
        ids,
        negative=False,
        max_examples=ROLES[role],
    )
    assert not failures, "\n\n".join(failures)


def test_api_survives_invalid_input(app: Any, admin: Actor, cat: Catalog, make_actor: Any) -> None:
    """Negative mode: schema-breaking requests get 4xx, never a 5xx."""
    ids = _seed(cat, make_actor)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    failures = _run(
        schema,
        {"Authorization": f"Bearer {admin.token}"},
        ids,
        negative=True,
        max_examples=NEGATIVE_EXAMPLES,
    )
    assert not failures, "\n\n".join(failures)
