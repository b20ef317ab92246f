"""How stripe-python's requests reach Stripe: a ``stripe.HTTPClient`` on urllib3.

stripe-python's own ``RequestsClient`` goes through requests, whose session re-reads the
proxy environment and looks for ``~/.netrc`` on every call and builds its request in
several layers; for one /pay that was 0.4 ms of the 1.1 ms a Stripe call costs in CPU
(issue 18, ``bench/stripe_call.py``). urllib3 is the pool requests itself sends through,
so the connection handling (keep-alive, TLS with stripe-python's CA bundle, timeouts,
gzip) is the same; what goes is the per-call work around it:

- the proxy is read from the environment once, for the API's address, by requests' own
  rules (``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY`` with its address ranges, a proxy
  written without a scheme, credentials in its URL), not on every call;
- stripe-python's retries stay its own (``request_with_retries``): a failure to connect,
  a timeout or a dropped connection is an ``APIConnectionError`` it may retry, as with
  requests; a TLS failure or a configuration error is not. One difference: an answer
  that breaks off mid-body is retried here (requests calls that a ``ChunkedEncodingError``
  and does not); every POST we send carries an idempotency key, so a retry replays it.

One pool per process: a forked worker (Celery's prefork, gunicorn) opens its own
connections rather than sharing its parent's sockets.
"""

from __future__ import annotations

import os
import textwrap
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import stripe
import urllib3
from requests import utils as requests_utils
from urllib3 import exceptions

_sent = threading.local()  # .count: requests this thread has sent, retries included


def requests_sent() -> int:
    """How many requests this thread has sent so far, each try of a retried call counted:
    the gateway tells by it whether a failed call was tried more than once."""
    return getattr(_sent, "count", 0)


# Sockets kept open per host, at most: one per thread that calls at once (a pool grows only
# as far as it is used; past this, a connection is closed after its call, and urllib3 warns).
POOL_SIZE = 100


class Urllib3Client(stripe.HTTPClient):
    name = "urllib3"

    def __init__(self, *, timeout: float, api_base: str = "https://api.stripe.com",
                 verify_ssl_certs: bool = True) -> None:
        super().__init__(verify_ssl_certs=verify_ssl_certs)
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._proxy = proxy_for(api_base)
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
        headers = {"Accept-Encoding": "gzip, deflate", **(headers or {})}  # as requests asks
        _sent.count = requests_sent() + 1
        try:
            return self._pool_get().request(
                method.upper(), url, body=post_data, headers=headers, timeout=self._timeout,
                retries=False, redirect=False, preload_content=preload_content)
        except Exception as error:  # as RequestsClient: every failure is Stripe's kind
            raise _connection_error(error) from error

    def _pool_get(self) -> urllib3.PoolManager:
        # No lock: two threads making the first pool at once leave one unused, and a lock
        # held by another thread at a fork would never be released in the child.
        if self._pool is None or self._pid != os.getpid():
            tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED",
                                   "ca_certs": stripe.ca_bundle_path} \
                if self._verify_ssl_certs else {"cert_reqs": "CERT_NONE"}
            if self._proxy is None:
                pool = urllib3.PoolManager(maxsize=POOL_SIZE, **tls)
            else:
                pool = urllib3.ProxyManager(self._proxy.url, proxy_headers=self._proxy.headers,
                                            maxsize=POOL_SIZE, **tls)
            self._pool, self._pid = pool, os.getpid()
        return self._pool


@dataclass(frozen=True)
class Proxy:
    url: str  # without credentials
    headers: dict[str, str]  # Proxy-Authorization, when the URL carried credentials


def proxy_for(url: str) -> Proxy | None:
    """The proxy the environment names for ``url``, by requests' rules, or None."""
    chosen = requests_utils.select_proxy(url, requests_utils.get_environ_proxies(url))
    if not chosen:
        return None
    chosen = requests_utils.prepend_scheme_if_needed(chosen, "http")
    user, password = requests_utils.get_auth_from_url(chosen)
    headers = urllib3.make_headers(proxy_basic_auth=f"{user}:{password}") if user else {}
    return Proxy(url=urllib3.util.parse_url(chosen)._replace(auth=None).url, headers=headers)


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
