"""Who may use the console: publishers (their organization only) and admins."""

from __future__ import annotations

from starlette.requests import Request

from tollway.domain.errors import Forbidden
from tollway.domain.principal import Principal
from tollway.web import require_user

SIGN_IN_PATH = "/console/sign-in"
HOME_PATH = "/console"


def publisher(request: Request) -> Principal:
    """The signed-in publisher or admin; anyone else is refused (a consumer gets a 403
    page pointing to the portal), nobody signed in goes to the console's sign-in."""
    user = require_user(request, SIGN_IN_PATH)
    if user.role not in ("publisher", "admin"):
        raise Forbidden(
            "The console is for API publishers. Your account is a consumer account: "
            "use the developer portal at /portal."
        )
    return user
