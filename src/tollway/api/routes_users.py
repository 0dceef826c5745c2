"""Sign-up, login, the current user, personal tokens, users and organizations (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

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
from tollway.http.deps import clear_session_cookie, set_session_cookie
from tollway.services import accounts

router = APIRouter(prefix="/api/v1", tags=["users"])


def _session(ctx: Ctx, signed_in: accounts.SignedIn, response: Response) -> SessionOut:
    """The session in the body (API clients) and as an HttpOnly cookie (the portal)."""
    token = signed_in.session
    set_session_cookie(response, token.raw, max_age=ctx.settings.session_lifetime_s)
    return SessionOut(
        token=token.raw,
        expires_at=token.expires_at,
        user=UserOut.model_validate(signed_in.user),
    )


@router.post("/auth/signup", response_model=SessionOut, status_code=status.HTTP_201_CREATED)
def signup(body: SignupIn, ctx: Ctx, conn: Conn, response: Response) -> SessionOut:
    """Self-service sign-up of a consumer (developer portal)."""
    signed_in = accounts.sign_up(
        ctx, conn, email=body.email, name=body.name, password=body.password
    )
    return _session(ctx, signed_in, response)


@router.post(
    "/auth/login",
    response_model=SessionOut,
    responses={429: {"description": "Too many failed logins; see Retry-After"}},
)
def login(body: LoginIn, request: Request, ctx: Ctx, conn: Conn, response: Response) -> SessionOut:
    """Start a session. Failed logins are throttled per account and per client address
    (429 with Retry-After); an unknown email costs the same time as a wrong password."""
    address = request.client.host if request.client else None
    signed_in = accounts.log_in(
        ctx, conn, email=body.email, password=body.password, address=address
    )
    return _session(ctx, signed_in, response)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(ctx: Ctx, conn: Conn, caller: Caller) -> Response:
    """Ends every session of the caller (personal tokens stay)."""
    accounts.log_out(ctx, conn, caller)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response)
    return response


@router.get("/users/me", response_model=UserOut)
def me(conn: Conn, caller: Caller) -> UserOut:
    return UserOut.model_validate(accounts.get_user(conn, caller, caller.user_id))


@router.post("/users/me/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
def create_personal_token(body: TokenCreateIn, ctx: Ctx, conn: Conn, caller: Caller) -> TokenOut:
    tok = accounts.create_personal_token(
        ctx, conn, caller, name=body.name, expires_in_days=body.expires_in_days
    )
    return TokenOut(id=tok.id, name=body.name, token=tok.raw, expires_at=tok.expires_at)


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreateIn, ctx: Ctx, conn: Conn, caller: Admin) -> UserOut:
    user = accounts.create_user(
        ctx,
        conn,
        caller,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password,
        organization_id=body.organization_id,
    )
    return UserOut.model_validate(user)


@router.get("/users", response_model=PageOut[UserOut])
def list_users(
    conn: Conn, caller: Admin, limit: Limit = 50, after: After = None
) -> PageOut[UserOut]:
    page = accounts.list_users(conn, caller, limit=limit, after=after)
    return PageOut[UserOut].of(page, [UserOut.model_validate(r) for r in page.items])


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: str, conn: Conn, caller: Caller) -> UserOut:
    return UserOut.model_validate(accounts.get_user(conn, caller, user_id))


@router.post("/organizations", response_model=OrganizationOut, status_code=status.HTTP_201_CREATED)
def create_org(body: OrganizationIn, ctx: Ctx, conn: Conn, caller: Admin) -> OrganizationOut:
    org = accounts.create_organization(ctx, conn, caller, name=body.name, slug=body.slug)
    return OrganizationOut.model_validate(org)


@router.get("/organizations", response_model=PageOut[OrganizationOut])
def list_orgs(
    conn: Conn, caller: Admin, limit: Limit = 50, after: After = None
) -> PageOut[OrganizationOut]:
    page = accounts.list_organizations(conn, caller, limit=limit, after=after)
    return PageOut[OrganizationOut].of(
        page, [OrganizationOut.model_validate(r) for r in page.items]
    )
