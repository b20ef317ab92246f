"""A stateful local stand-in for Stripe's test mode (API, Stripe.js shim, test controls).

No Django here: the sandbox is used by the tests, the benchmarks and the
offline demo alike. See ``stripe_sandbox/README.md``.
"""

from .app import SandboxApp
from .auth import DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY
from .server import SandboxServer

__all__ = ["DEFAULT_PUBLISHABLE_KEY", "DEFAULT_SECRET_KEY", "SandboxApp", "SandboxServer"]
