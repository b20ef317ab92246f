"""How stripe-python's requests reach Stripe: a ``stripe.HTTPClient`` on urllib3.

stripe-python's own ``RequestsClient`` goes through requests, whose session re-reads the
proxy environment and looks for ``~/.netrc`` on every call and builds its request in
several layers; for one /pay that was 0.5 ms of the 1.0 ms a Stripe call costs in CPU
(issue 18, ``bench/pay_profile.py``). urllib3 is the pool requests itself sends through,
so the connection handling (keep-alive, TLS with stripe-python's CA bundle, timeouts) is
the same; what goes is the per-call work around it:

- the proxy is read from the environment once, for the API's host (``HTTPS_PROXY``,
  ``NO_PROXY``…, as urllib reads them), not on every call;
- stripe-python's retries stay its own (``request_with_retries``): a failure to connect,
  a timeout or a dropped connection is an ``APIConnectionError`` it may retry, as with
  requests; a TLS failure is not retried (stripe-python's rule).

One pool per process: a forked worker (Celery's prefork, gunicorn) opens its own
connections rather than sharing its parent's sockets.
"""

from __future__ import annotations

import os
import textwrap
import threading
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import stripe
import urllib3
from urllib3 import exceptions

# Sockets kept open per host, at most: one per thread that calls at once (a pool grows only
# as far as it is used; past this, a connection is closed after its call, and urllib3 warns).
POOL_SIZE = 100


class Urllib3Client(stripe.HTTPClient):
    name = "urllib3"

    def __init__(self, *, timeout: float, api_base: str = "https://api.stripe.com",
                 verify_ssl_certs: bool = True) -> None:
        super().__init__(verify_ssl_certs=verify_ssl_certs)
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._proxy_url = proxy_for(api_base)
        self._lock = threading.Lock()
        self._pool: urllib3.PoolManager | None = None
        self._pid = 0

    def request(self, method: str, url: str, headers: Mapping[str, str] | None,
                post_data: Any = None) -> tuple[bytes, int, Mapping[str, str]]:
        response = self._send(method, url, headers, post_data, preload_content=True)
        return response.data, response.status, response.headers

    def request_stream(self, method: str, url: str, headers: Mapping[str, str] | None,
                       post_data: Any = None) -> tuple[Any, int, Mapping[str, str]]:
        response = self._send(method, url, headers, post_data, preload_content=False)
        return response, response.status, response.headers

    def close(self) -> None:
        if self._pool is not None:
            self._pool.clear()

    def _send(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any,
              *, preload_content: bool) -> urllib3.BaseHTTPResponse:
        try:
            return self._pool_get().request(
                method.upper(), url, body=post_data, headers=dict(headers or {}),
                timeout=self._timeout, retries=False, redirect=False,
                preload_content=preload_content)
        except Exception as error:  # as RequestsClient: every failure is Stripe's kind
            raise _connection_error(error) from error

    def _pool_get(self) -> urllib3.PoolManager:
        pool = self._pool
        if pool is not None and self._pid == os.getpid():
            return pool
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED",
                                       "ca_certs": stripe.ca_bundle_path} \
                    if self._verify_ssl_certs else {"cert_reqs": "CERT_NONE"}
                self._pool = urllib3.ProxyManager(self._proxy_url, maxsize=POOL_SIZE, **tls) \
                    if self._proxy_url else urllib3.PoolManager(maxsize=POOL_SIZE, **tls)
                self._pid = os.getpid()
            return self._pool


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url``, or None (``NO_PROXY`` respected)."""
    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _connection_error(error: Exception) -> stripe.APIConnectionError:
    """A failure as stripe-python's ``RequestsClient`` reports requests' ones: retried
    when the request may not have been handled (connect, timeout, dropped), not for a
    TLS failure or anything else (a configuration error, say)."""
    retry = isinstance(error, (exceptions.TimeoutError, exceptions.ProtocolError,
                               exceptions.NewConnectionError, exceptions.ProxyError))
    if isinstance(error, exceptions.SSLError):
        message = ("Could not verify Stripe's SSL certificate.  Please make sure that your "
                   "network is not intercepting certificates.")
    elif retry:
        message = "Unexpected error communicating with Stripe."
    else:
        message = ("Unexpected error communicating with Stripe. It looks like there's "
                   "probably a configuration issue locally.")
    detail = f"{type(error).__name__}: {error}"
    return stripe.APIConnectionError(
        textwrap.fill(message) + f"\n\n(Network error: {detail})", should_retry=retry)
