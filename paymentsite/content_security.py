"""Where Stripe.js comes from, and the Content-Security-Policy that allows it and nothing else.

Real Stripe: the script from https://js.stripe.com/v3/, its iframes from js.stripe.com and
hooks.stripe.com (3-D Secure), its calls to api.stripe.com. The sandbox serves the same
script at ``<sandbox>/v3/`` and answers the calls itself, so one origin covers all three.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.constants import NONE, SELF

STRIPE_JS_URL = "https://js.stripe.com/v3/"


def stripe_js_url_for(*, api_base: str) -> str:
    """The Stripe.js address the checkout page loads: the sandbox's shim, or Stripe's own."""
    return f"{api_base.rstrip('/')}/v3/" if api_base else STRIPE_JS_URL


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy_for(*, stripe_js_url: str, api_base: str) -> dict:
    """django-csp's ``CONTENT_SECURITY_POLICY``: scripts only from us and Stripe.js's origin."""
    js = _origin(stripe_js_url)
    api = _origin(api_base) if api_base else "https://api.stripe.com"
    frames = [js] if api_base else [js, "https://hooks.stripe.com"]
    return {"DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, js],
        "style-src": [SELF, js],
        "connect-src": [SELF, api],
        "frame-src": frames,
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }}
