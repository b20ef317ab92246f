"""Why a payment did not go through: the checkout's exceptions, each with a ``message``
fit for the shopper. ``/pay`` answers each with its own status code
(``payments.checkout.views.PAY_ERROR_STATUS``); ops actions and scans show the message.
"""

from __future__ import annotations

from django.utils.translation import gettext, gettext_noop

# What a shopper reads after a decline, by Stripe's decline code (or error code), in our
# translated words: Stripe's messages are English only. Codes a fraudster could learn from
# (lost, stolen, fraudulent...) read as a plain decline, as Stripe advises
# (docs.stripe.com/declines/codes); a code not listed here reads as one too.
DECLINED = gettext_noop("Your card was declined. Please use another card or contact your "
                        "bank.")
DECLINE_WORDS = {
    "insufficient_funds": gettext_noop("Your card has insufficient funds."),
    "expired_card": gettext_noop("Your card has expired. Please use another card."),
    "incorrect_cvc": gettext_noop("Your card's security code is incorrect."),
    "invalid_cvc": gettext_noop("Your card's security code is incorrect."),
    "incorrect_number": gettext_noop("Your card number is incorrect."),
    "invalid_number": gettext_noop("Your card number is incorrect."),
    "invalid_expiry_month": gettext_noop("Your card's expiration date is incorrect."),
    "invalid_expiry_year": gettext_noop("Your card's expiration date is incorrect."),
    "processing_error": gettext_noop("An error occurred while processing your card. Please "
                                     "try again in a moment."),
    "try_again_later": gettext_noop("Your bank could not be reached. Please try again in a "
                                    "moment."),
    "issuer_not_available": gettext_noop("Your bank could not be reached. Please try again "
                                         "in a moment."),
    "card_velocity_exceeded": gettext_noop("Your card has reached its limit for now. Please "
                                           "use another card or contact your bank."),
    "withdrawal_count_limit_exceeded": gettext_noop("Your card has reached its limit for "
                                                    "now. Please use another card or contact "
                                                    "your bank."),
    "card_not_supported": gettext_noop("Your card does not support this kind of purchase. "
                                       "Please use another card."),
    "currency_not_supported": gettext_noop("Your card does not support this currency. "
                                           "Please use another card."),
    "generic_decline": gettext_noop("Your card was declined."),
    "card_declined": gettext_noop("Your card was declined."),
}


def decline_in_words(*, decline_code: str | None, code: str | None) -> str:
    """The decline in the shopper's language: the decline code's words (the more
    specific), else the error code's, else a plain decline."""
    for key in (decline_code, code):
        if key in DECLINE_WORDS:
            return gettext(DECLINE_WORDS[key])
    return gettext(DECLINED)


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


class OrderAmountRefused(OrderNotPayable):
    """Stripe would refuse the order's amount in its currency (below its minimum or above
    its maximum charge: an order placed before the cart said so): no intent is made."""


class PaymentInProgress(CheckoutError):
    """Another request for the same order is creating its payment right now."""


class PaymentDeclined(CheckoutError):
    def __init__(self, message: str, *, decline_code: str | None = None) -> None:
        super().__init__(message)
        self.decline_code = decline_code


class PaymentNeedsCard(CheckoutError):
    """The intent needs a (new) card: authentication failed or the hour ran out."""


class PaymentInvalid(CheckoutError):
    """Stripe refused the request itself (an unknown payment method, say); the gateway's
    classes say whether it was the intent Stripe does not know (``intent_missing``) or a
    confirm refused in the intent's state (``state_conflict``). ``message`` is the
    shopper's; ``stripe_message`` Stripe's own (English, for developers: ops read it)."""

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None,
                 intent_missing: bool = False, state_conflict: bool = False,
                 stripe_message: str = "") -> None:
        super().__init__(message)
        self.code, self.param = code, param
        self.intent_missing, self.state_conflict = intent_missing, state_conflict
        self.stripe_message = stripe_message


class PaymentRefusedForShop(PaymentInvalid):
    """Stripe refused the shop's own request (a currency it does not take for the account,
    a total outside limits the shop's table did not know): no card can change it, so
    ``/pay`` answers as for an order that cannot be paid (409), not "check the card"."""


class PaymentIntentMissing(PaymentNeedsCard):
    """Stripe does not know the order's intent (keys, account or sandbox changed)."""


class PaymentRateLimited(CheckoutError):
    pass


class PaymentUnavailable(CheckoutError):
    """Stripe could not be reached or failed. ``key_spent``: its answer is kept under the
    call's idempotency key (``gateway.StripeUnavailable.key_spent``)."""

    def __init__(self, message: str, *, key_spent: bool = False) -> None:
        super().__init__(message)
        self.key_spent = key_spent
