"""What every HTTP adapter of the control plane (the REST API, the portal, the web pages)
shares: the request's transaction (``transaction``) and the context, the transaction and
the session as FastAPI dependencies (``deps``)."""
