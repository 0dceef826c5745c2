"""Sign-up, login, the current user, personal tokens, users and organizations (admin)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response, status
from sqlalchemy import select, update

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
from tollway.domain.errors import NotFound, Unauthenticated
from tollway.http.deps import SESSION_COOKIE
from tollway.security.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from tollway.services import sessions
from tollway.store import users_repo
from tollway.store.rows import paginate
from tollway.store.tables import organizations, users

router = APIRouter(prefix="/api/v1", tags=["users"])


def _session(ctx: Ctx, conn: Conn, user: dict[str, object], response: Response) -> SessionOut:
    lifetime_s = ctx.settings.session_lifetime_s
    tok = sessions.create_session(conn, str(user["id"]), now=ctx.clock.now(), lifetime_s=lifetime_s)
    response.set_cookie(
        SESSION_COOKIE,
        tok.raw,
        max_age=lifetime_s,
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


@router.post("/auth/login", response_model=SessionOut)
def login(body: LoginIn, ctx: Ctx, conn: Conn, response: Response) -> SessionOut:
    user = users_repo.find_by_email(conn, body.email)
    if (
        user is None
        or not user["password_hash"]
        or user["disabled"]
        or not verify_password(str(user["password_hash"]), body.password)
    ):
        raise Unauthenticated("wrong email or password")
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
    sessions.end_sessions(conn, caller.user_id, ctx.clock.now())
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/users/me", response_model=UserOut)
def me(conn: Conn, caller: Caller) -> UserOut:
    return UserOut.model_validate(users_repo.get_user(conn, caller.user_id))


@router.post("/users/me/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
def create_personal_token(body: TokenCreateIn, ctx: Ctx, conn: Conn, caller: Caller) -> TokenOut:
    lifetime = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    tok = sessions.create_token(
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
