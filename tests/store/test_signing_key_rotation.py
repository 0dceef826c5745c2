"""Signing-key rotation: old tokens stay valid for the grace period, or stop at once."""

from datetime import timedelta
from typing import Any

from tollway.store import changes, keys_repo


def test_rotation_with_and_without_grace(ctx: Any) -> None:
    now = ctx.clock.now()
    with ctx.tx() as conn:
        first = keys_repo.current_signing_key(conn, ctx.secrets, now)
        version = changes.current(conn)
        second = keys_repo.rotate_signing_key(conn, ctx.secrets, now, timedelta(hours=1))
        assert second.kid != first.kid
        assert changes.current(conn) > version  # gateways reload their key set
        assert set(keys_repo.public_keys(conn, now)) == {first.kid, second.kid}
        assert set(keys_repo.public_keys(conn, now + timedelta(hours=2))) == {second.kid}
        assert keys_repo.current_signing_key(conn, ctx.secrets, now).kid == second.kid

        third = keys_repo.rotate_signing_key(conn, ctx.secrets, now, timedelta(0))
        assert set(keys_repo.public_keys(conn, now)) == {first.kid, third.kid}
        assert second.kid not in keys_repo.public_keys(conn, now)


def test_gateway_snapshot_drops_retired_keys(ctx: Any) -> None:
    from tollway.gateway.snapshot_sql import load_snapshot

    now = ctx.clock.now()
    with ctx.tx() as conn:
        first = keys_repo.current_signing_key(conn, ctx.secrets, now)
        second = keys_repo.rotate_signing_key(conn, ctx.secrets, now, timedelta(0))
    snap = load_snapshot(ctx.engine, now + timedelta(seconds=1))
    assert second.kid in snap.public_keys and first.kid not in snap.public_keys
