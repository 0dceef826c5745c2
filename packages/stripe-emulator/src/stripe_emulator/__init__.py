"""A local, stateful emulation of the Stripe API for development and tests.

It is a development tool: it never talks to Stripe, keeps its data in memory (optionally
in a JSON file) and serves hosted Checkout and customer-portal pages that say they are an
emulator. The official ``stripe`` SDK talks to it with only the base URL changed.

Public API::

    from stripe_emulator import EmulatorSettings, create_app, running_emulator, serve
"""

from .app import create_app
from .server import serve
from .settings import API_VERSION, EmulatorSettings
from .testing import Emulator, running_emulator

cli_help = (
    "Run the Stripe emulator, a DEVELOPMENT TOOL: a local, stateful emulation of the "
    "Stripe API (products, prices, billing meters, customers, subscriptions, Checkout, "
    "customer portal, invoices, signed webhooks and test clocks) for the official SDK. "
    "It never contacts Stripe and never moves money. It binds to loopback only unless "
    "--allow-remote is given. Point the SDK at it with "
    'StripeClient(key, base_addresses={"api": "http://127.0.0.1:12111"}).'
)

__all__ = [
    "API_VERSION",
    "Emulator",
    "EmulatorSettings",
    "cli_help",
    "create_app",
    "running_emulator",
    "serve",
]
