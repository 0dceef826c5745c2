"""Test support shared by every test package: row factories (``rows``), waiting for a
condition with a deadline (``waiting``) and real servers on loopback ports (``servers``).

Import it as ``tests.support`` (the repository root is on ``sys.path`` under pytest because
``tests`` is a package)."""
