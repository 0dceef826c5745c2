"""Test support shared by every test package.

* ``rows`` — row factories: the one way to put rows in the database directly (and
  usage events);
* ``catalog`` — the same objects built through the REST API, each step asserted;
* ``actors`` — a user with an authenticated HTTP client;
* ``waiting`` — ``wait_until``: poll a condition with a deadline;
* ``servers`` — real servers on loopback ports: an ASGI app under uvicorn in a thread,
  a standard-library handler, a free port.

Import it as ``tests.support`` (``tests`` is a package, so pytest puts the repository
root on ``sys.path``; no ``sys.path`` edits anywhere)."""
