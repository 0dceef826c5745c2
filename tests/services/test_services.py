"""The services hold the rules: called directly (as a page does), without HTTP, they
apply the same checks the REST API answers with."""

from __future__ import annotations

import pytest

from tollway.context import AppContext
from tollway.domain.errors import Conflict, Forbidden, NotFound, Unauthenticated
from tollway.domain.principal import Principal
from tollway.services import accounts, applications, catalog, plans, sessions, subscriptions


def _principal(user: dict[str, object]) -> Principal:
    return Principal(str(user["id"]), str(user["role"]), str(user["organization_id"]), "x")


def test_a_consumer_journey_through_the_services(ctx: AppContext) -> None:
    with ctx.tx() as conn:
        admin = _principal(
            accounts.create_user(
                ctx,
                conn,
                Principal("usr_root", "admin", "org_x", "root@example.com"),
                email="admin@example.com",
                name="Admin",
                role="admin",
                password=None,
            )
        )
        pub = _principal(
            accounts.create_user(
                ctx,
                conn,
                admin,
                email="pub@example.com",
                name="Pub",
                role="publisher",
                password="correct horse battery",
            )
        )
        signed = accounts.sign_up(
            ctx, conn, email="dev@example.com", name="Dev", password="correct horse battery"
        )
    con = sessions.authenticate_in(ctx, signed.session.raw)
    assert con.role == "consumer"

    with ctx.tx() as conn:
        api = catalog.create_api(
            ctx,
            conn,
            pub,
            name="Books",
            context="books",
            version="v1",
            description="",
            usage_header=None,
        )
        free = plans.create_plan(
            ctx,
            conn,
            pub,
            name="Free",
            description="",
            currency="usd",
            billing_interval="month",
            pricing={},
        )
        catalog.set_api_plan(ctx, conn, pub, api["id"], free["id"], enabled=True)
        app = applications.create_application(
            ctx, conn, con, name="mine", description="", token_lifetime_s=None
        )
        with pytest.raises(Forbidden):  # consumers do not publish
            catalog.create_api(
                ctx,
                conn,
                con,
                name="X",
                context="x",
                version="v1",
                description="",
                usage_header=None,
            )
    with pytest.raises(NotFound), ctx.tx() as conn:  # not published: not there for consumers
        subscriptions.subscribe(
            ctx, conn, con, application_id=app["id"], api_id=api["id"], plan_id=free["id"]
        )
    with ctx.tx() as conn:
        catalog.deploy(ctx, conn, pub, api["id"], "production", "http://127.0.0.1:9/")
        catalog.change_lifecycle(ctx, conn, pub, api["id"], "published")
        sub = subscriptions.subscribe(
            ctx, conn, con, application_id=app["id"], api_id=api["id"], plan_id=free["id"]
        )
        assert sub["state"] == "active" and sub["checkout_url"] is None
        with pytest.raises(Conflict, match="already has a subscription"):
            subscriptions.subscribe(
                ctx, conn, con, application_id=app["id"], api_id=api["id"], plan_id=free["id"]
            )
        assert [s["api_name"] for s in subscriptions.of_consumer(conn, con)] == ["Books"]
        with pytest.raises(NotFound):  # someone else's application is not there at all
            applications.get_application(conn, pub, app["id"])

    with ctx.tx() as conn:
        accounts.log_out(ctx, conn, con)
    with pytest.raises(Unauthenticated):
        sessions.authenticate_in(ctx, signed.session.raw)
