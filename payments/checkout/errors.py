"""Why a payment did not go through: the checkout's exceptions, each with a ``message``
fit for the shopper. ``/pay`` answers each with its own status code
(``payments.checkout.views.PAY_ERROR_STATUS``); ops actions and scans show the message.
"""

from __future__ import annotations


class CheckoutError(Exception):
    """The payment did not go through; ``message`` is shown to the shopper."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OrderNotFound(CheckoutError):
    """No such order (the session's reference points nowhere)."""


class IntentNotFound(CheckoutError):
    """The intent id is not one of this order's."""


class OrderMismatch(CheckoutError):
    """The page names one order and the request would pay another (two tabs)."""


class OrderAmbiguous(CheckoutError):
    """The request names no order and the session has several awaiting payment."""


class OrderNotPayable(CheckoutError):
    """The order was canceled, or its payment was, or it is still processing."""


class PaymentInProgress(CheckoutError):
    """Another request for the same order is creating its payment right now."""


class PaymentDeclined(CheckoutError):
    def __init__(self, message: str, *, decline_code: str | None = None) -> None:
        super().__init__(message)
        self.decline_code = decline_code


class PaymentNeedsCard(CheckoutError):
    """The intent needs a (new) card: authentication failed or the hour ran out."""


class PaymentInvalid(CheckoutError):
    """Stripe refused the request itself (an unknown payment method, say)."""

    def __init__(self, message: str, *, code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.param = code, param


class PaymentIntentMissing(PaymentNeedsCard):
    """Stripe does not know the order's intent (keys, account or sandbox changed)."""


class PaymentRateLimited(CheckoutError):
    pass


class PaymentUnavailable(CheckoutError):
    pass
