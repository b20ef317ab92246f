"""API keys: who may call ``/v1/``, and with which key.

The secret key may call everything. The publishable key is accepted only on the
routes Stripe.js uses (``Route(publishable=True)``); elsewhere it is Stripe's 401
``secret_key_required``.
"""

from __future__ import annotations

import base64

from .errors import SandboxError
from .transport import Request, Route

DEFAULT_SECRET_KEY = "sk_test_sandboxSecretKey000000000000000"
DEFAULT_PUBLISHABLE_KEY = "pk_test_sandboxPublishableKey0000000000"


def bearer_key(request: Request) -> str:
    """The key of ``Authorization: Bearer <key>`` or of HTTP basic (the key as the user,
    as curl sends it); empty when there is none."""
    header = request.headers.get("authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    if header.startswith("Basic "):
        try:
            return base64.b64decode(header[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            return ""
    return ""


def authenticate(request: Request, route: Route, *, secret_key: str,
                 publishable_key: str) -> None:
    """Set ``request.api_key`` and ``request.publishable``, or raise Stripe's 401."""
    key = bearer_key(request)
    if not key:
        raise SandboxError(
            401, "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
            "or we can help at https://support.stripe.com/.", replayable=False)
    if key == publishable_key and route.publishable:
        request.publishable = True
    elif key != secret_key:
        if key == publishable_key:
            raise SandboxError(
                401, "invalid_request_error", "This API call cannot be made with a "
                "publishable API key. Please use a secret API key. You can find a list of "
                "your API keys at https://dashboard.stripe.com/account/apikeys.",
                code="secret_key_required", replayable=False)
        raise SandboxError(401, "invalid_request_error",
                           f"Invalid API Key provided: {key[:8]}{'*' * 12}{key[-4:]}",
                           replayable=False)
    request.api_key = key
