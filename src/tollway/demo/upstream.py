"""A small "Reading List" HTTP API used as the demo's upstream (in memory)."""

from __future__ import annotations

import itertools
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SEED = [
    {"title": "The Pragmatic Programmer", "author": "Andrew Hunt, David Thomas"},
    {"title": "Designing Data-Intensive Applications", "author": "Martin Kleppmann"},
]


def create_upstream() -> Starlette:
    books: dict[str, dict[str, Any]] = {}
    ids = itertools.count(1)
    lock = threading.Lock()
    for seed in SEED:
        book_id = str(next(ids))
        books[book_id] = {"id": book_id, **seed}

    async def list_books(request: Request) -> Response:
        return JSONResponse(list(books.values()))

    async def create_book(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "send JSON"}, status_code=400)
        if not isinstance(body, dict) or not body.get("title") or not body.get("author"):
            return JSONResponse({"error": "title and author are required"}, status_code=400)
        with lock:
            book_id = str(next(ids))
            books[book_id] = {
                "id": book_id,
                "title": str(body["title"]),
                "author": str(body["author"]),
            }
        return JSONResponse(books[book_id], status_code=201)

    async def get_book(request: Request) -> Response:
        book = books.get(request.path_params["id"])
        return JSONResponse(book) if book else JSONResponse({"error": "not found"}, 404)

    async def delete_book(request: Request) -> Response:
        with lock:
            found = books.pop(request.path_params["id"], None)
        return Response(status_code=204 if found else 404)

    return Starlette(
        routes=[
            Route("/books", list_books, methods=["GET"]),
            Route("/books", create_book, methods=["POST"]),
            Route("/books/{id}", get_book, methods=["GET"]),
            Route("/books/{id}", delete_book, methods=["DELETE"]),
        ]
    )
