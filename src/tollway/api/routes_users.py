"""Sign-up, login, the current user, personal tokens, users and organizations (admin)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import select, update

from tollway.api import auth
from tollway.api.deps import Admin, After, Caller, Conn, Ctx, Limit
from tollway.api.schemas import (
    LoginIn,
    OrganizationIn,
    OrganizationOut,
    PageOut,
    SessionOut,
    SignupIn,
    TokenCreateIn,
    TokenOut,
    UserCreateIn,
    UserOut,
)
from tollway.domain.errors import NotFound, RateLimited, Unauthenticated
from tollway.security.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_against_nothing,
    verify_password,
)
from tollway.store import users_repo
from tollway.store.rows import paginate
from tollway.store.tables import organizations, users

router = APIRouter(prefix="/api/v1", tags=["users"])


def _session(ctx: Ctx, conn: Conn, user: dict[str, object], response: Response) -> SessionOut:
    now = ctx.clock.now()
    lifetime = timedelta(seconds=ctx.settings.session_lifetime_s)
    tok = auth.create_token(
        conn, str(user["id"]), name="session", kind="session", now=now, lifetime=lifetime
    )
    response.set_cookie(
        auth.SESSION_COOKIE,
        tok.raw,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        path="/",
    )
    return SessionOut(token=tok.raw, expires_at=tok.expires_at, user=UserOut.model_validate(user))


@router.post("/auth/signup", response_model=SessionOut, status_code=status.HTTP_201_CREATED)
def signup(body: SignupIn, ctx: Ctx, conn: Conn, response: Response) -> SessionOut:
    """Self-service sign-up of a consumer (developer portal)."""
    check_password_policy(body.password)
    now = ctx.clock.now()
    org_id = users_repo.ensure_default_org(conn, now)
    user = users_repo.create_user(
        conn,
        email=body.email,
        name=body.name,
        role="consumer",
        password=body.password,
        organization_id=org_id,
        now=now,
    )
    return _session(ctx, conn, user, response)


@router.post(
    "/auth/login",
    response_model=SessionOut,
    responses={429: {"description": "Too many failed logins; see Retry-After"}},
)
def login(body: LoginIn, request: Request, ctx: Ctx, conn: Conn, response: Response) -> SessionOut:
    """Start a session. Failed logins are throttled per account and per client address
    (429 with Retry-After); an unknown email costs the same time as a wrong password."""
    now = ctx.clock.now()
    address = request.client.host if request.client else None
    wait = ctx.login_throttle.retry_after(body.email, address, now.timestamp())
    if wait is not None:
        raise RateLimited("too many failed logins; try again later", retry_after_s=wait)
    user = users_repo.find_by_email(conn, body.email)
    if user is None or not user["password_hash"]:
        ok = verify_against_nothing(body.password)
    else:
        ok = verify_password(str(user["password_hash"]), body.password)
    if user is None or not ok or user["disabled"]:
        ctx.login_throttle.failed(body.email, address, now.timestamp())
        raise Unauthenticated("wrong email or password")
    ctx.login_throttle.succeeded(body.email)
    if needs_rehash(str(user["password_hash"])):
        conn.execute(
            update(users)
            .where(users.c.id == user["id"])
            .values(password_hash=hash_password(body.password))
        )
    return _session(ctx, conn, user, response)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(ctx: Ctx, conn: Conn, caller: Caller, response: Response) -> Response:
    """Ends every session of the caller (personal tokens stay)."""
    from tollway.store.tables import api_tokens

    conn.execute(
        update(api_tokens)
        .where(
            api_tokens.c.user_id == caller.user_id,
            api_tokens.c.kind == "session",
            api_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=ctx.clock.now())
    )
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


@router.get("/users/me", response_model=UserOut)
def me(conn: Conn, caller: Caller) -> UserOut:
    return UserOut.model_validate(users_repo.get_user(conn, caller.user_id))


@router.post("/users/me/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
def create_personal_token(body: TokenCreateIn, ctx: Ctx, conn: Conn, caller: Caller) -> TokenOut:
    lifetime = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    tok = auth.create_token(
        conn,
        caller.user_id,
        name=body.name,
        kind="personal",
        now=ctx.clock.now(),
        lifetime=lifetime,
    )
    return TokenOut(id=tok.id, name=body.name, token=tok.raw, expires_at=tok.expires_at)


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreateIn, ctx: Ctx, conn: Conn, _: Admin) -> UserOut:
    check_password_policy(body.password)
    now = ctx.clock.now()
    org_id = body.organization_id or users_repo.ensure_default_org(conn, now)
    users_repo.get_org(conn, org_id)
    user = users_repo.create_user(
        conn,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password,
        organization_id=org_id,
        now=now,
    )
    return UserOut.model_validate(user)


@router.get("/users", response_model=PageOut[UserOut])
def list_users(conn: Conn, _: Admin, limit: Limit = 50, after: After = None) -> PageOut[UserOut]:
    page = paginate(conn, select(users), users.c.id, limit=limit, after=after)
    return PageOut[UserOut].of(page, [UserOut.model_validate(r) for r in page.items])


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: str, conn: Conn, caller: Caller) -> UserOut:
    if user_id != caller.user_id and not caller.is_admin:
        raise NotFound(f"user '{user_id}' not found")
    return UserOut.model_validate(users_repo.get_user(conn, user_id))


@router.post("/organizations", response_model=OrganizationOut, status_code=status.HTTP_201_CREATED)
def create_org(body: OrganizationIn, ctx: Ctx, conn: Conn, _: Admin) -> OrganizationOut:
    return OrganizationOut.model_validate(
        users_repo.create_org(conn, name=body.name, slug=body.slug, now=ctx.clock.now())
    )


@router.get("/organizations", response_model=PageOut[OrganizationOut])
def list_orgs(
    conn: Conn, _: Admin, limit: Limit = 50, after: After = None
) -> PageOut[OrganizationOut]:
    page = paginate(conn, select(organizations), organizations.c.id, limit=limit, after=after)
    return PageOut[OrganizationOut].of(
        page, [OrganizationOut.model_validate(r) for r in page.items]
    )
