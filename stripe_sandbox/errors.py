"""Stripe-shaped API errors.

Every failure the sandbox reports is a ``SandboxError``; ``app.py`` turns it into
the JSON body ``{"error": {...}}`` with the HTTP status Stripe uses for it.
"""

from __future__ import annotations

from typing import Any

DOC_BASE = "https://stripe.com/docs/error-codes/"


class SandboxError(Exception):
    """An error Stripe would answer with; ``fields`` become the error object's keys."""

    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        payment_intent: Any = None,
        payment_method: Any = None,
        charge: str | None = None,
        replayable: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.payment_intent = payment_intent
        self.payment_method = payment_method
        self.charge = charge
        # Stripe saves an idempotent result only once the endpoint started
        # executing: validation and auth failures are not replayed.
        self.replayable = replayable
        self.headers = headers or {}

    def body(self, render: Any = None) -> dict[str, Any]:
        """The error object; ``render`` turns embedded sandbox objects into JSON."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = DOC_BASE + self.code.replace("_", "-")
        if self.param:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        if self.charge:
            error["charge"] = self.charge
        if self.payment_intent is not None:
            error["payment_intent"] = render(self.payment_intent) if render else self.payment_intent
        if self.payment_method is not None:
            error["payment_method"] = render(self.payment_method) if render else self.payment_method
        return {"error": error}


def invalid_request(message: str, *, param: str | None = None, code: str | None = None,
                    status: int = 400, replayable: bool = False) -> SandboxError:
    return SandboxError(status, "invalid_request_error", message, param=param, code=code,
                        replayable=replayable)


def parameter_unknown(param: str) -> SandboxError:
    return invalid_request(f"Received unknown parameter: {param}", param=param,
                           code="parameter_unknown")


def parameter_missing(param: str) -> SandboxError:
    return invalid_request(f"Missing required param: {param}.", param=param,
                           code="parameter_missing")


def resource_missing(kind: str, object_id: str, *, param: str = "id",
                     status: int = 404) -> SandboxError:
    """404 for an id in the path; Stripe answers 400 for an unknown id given as a parameter."""
    return invalid_request(f"No such {kind}: '{object_id}'", param=param,
                           code="resource_missing", status=status, replayable=True)


def unexpected_state(message: str, *, intent: Any = None) -> SandboxError:
    return SandboxError(400, "invalid_request_error", message,
                        code="payment_intent_unexpected_state", payment_intent=intent)
