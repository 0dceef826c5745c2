"""htmx conventions: when to send a fragment, how to redirect, how polling ends.

- A page and its updatable parts: ``pages.render(request, "x/page.html",
  partial="x/_part.html")`` sends the fragment to an htmx request and the whole page
  otherwise (a reload, a bookmarked URL, a browser without JavaScript).
- Redirecting an htmx request: :func:`redirect` answers ``HX-Redirect`` (htmx then does
  a full navigation) and a plain ``303`` to everyone else.
- Polling ("waiting for payment"): the ``ui.poll`` macro renders a region that asks its
  URL every few seconds and swaps itself; the handler answers with the same waiting
  fragment while nothing changed and with the final fragment (no polling attributes)
  when it did, which ends the polling. ``STOP_POLLING`` (286) also stops it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

STOP_POLLING = 286


def is_htmx(request: Request) -> bool:
    """An htmx request that wants a fragment (not a history restore or a boosted link)."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-History-Restore-Request") != "true"
        and headers.get("HX-Boosted") != "true"
    )


def redirect(request: Request, url: str) -> Response:
    """Go to ``url`` after a form post or an htmx action (303 keeps the next request a GET)."""
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)
