"""Kept so ``from stripe_sandbox.controls import SandboxControls`` goes on working: the
client is ``client.py``; the server's routes are ``control_routes.py``."""

from .client import SandboxControls

__all__ = ["SandboxControls"]
