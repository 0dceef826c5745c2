"""The publisher console (``/console``): server-rendered pages on ``tollway.web`` that
call the same services as the REST API. ``routes.router`` is mounted by the control
plane."""
