"""The service layer: the rules of the control plane, called by every HTTP adapter (the
REST API, the portal, the console pages) and the command line — never a second copy.

Each module is a small set of plain functions over the typed ``AppContext`` and/or a
connection (the caller's transaction); they raise ``tollway.domain.errors``. They know
nothing of HTTP: parsing and serializing belong to the adapters.
"""
