"""What the browser scripts (static/payments/checkout.js, recover.js) say, in the
shopper's language: the page hands them over as JSON
(templates/payments/_checkout_messages.html)."""

from __future__ import annotations

from django.utils.translation import gettext


def checkout_words() -> dict[str, str]:
    return {
        # While a payment is in flight: the status line (a polite live region) says so.
        "processing": gettext("Processing your payment…"),
        "unexpected": gettext("Unexpected answer from the store. Please try again."),
        # %(status)s: the HTTP status code, filled in by the script.
        "unexpectedStatus": gettext("The store answered unexpectedly (HTTP %(status)s). "
                                    "Please try again."),
        "unreachable": gettext("We could not reach the store. Check your connection and "
                               "try again; you will not be charged twice."),
        # /pay sent and no answer came back: it may have paid (the answer lost on the
        # way back); "could not reach the store" sent a charged shopper away.
        "payUnanswered": gettext("We did not hear back from the store: your payment may "
                                 "have gone through. Check your connection, then press "
                                 "Pay again to find out; you will not be charged twice."),
        # Stripe.js did not load: the card form cannot work.
        "stripeMissing": gettext("The card form could not be loaded. Check your connection "
                                 "and reload this page; nothing was charged."),
        # The bank's step was done but its answer, or the store's, never arrived.
        "unreachableAfterBank": gettext("We could not hear back after your bank's check: "
                                        "your bank may have approved the payment. Check "
                                        "your connection, then press Pay to finish it; "
                                        "you will not be charged twice."),
        # Also what the shopper sees after closing the bank's window: Stripe.js reports
        # both alike.
        "authenticationFailed": gettext("The check with your bank was cancelled or did not "
                                        "succeed. Nothing was charged: press Pay to try "
                                        "again, or use another card."),
        "authenticationIncomplete": gettext("The check with your bank could not be "
                                            "completed. Please try again or use another "
                                            "card."),
        # Stripe.js met Stripe down or busy (api_error, rate_limit_error): the card is fine.
        "providerBusy": gettext("Our payment provider is not answering right now. Nothing "
                                "was charged; please try again in a moment."),
        "cardUnreadable": gettext("Your card could not be read. Please check it and try "
                                  "again."),
        "notPaid": gettext("Not paid: check the card details or use another card below."),
        "notPaidAuthentication": gettext("Not paid: the check with your bank did not go "
                                         "through."),
        "recoverAuthenticationFailed": gettext("Your bank could not confirm this payment. "
                                               "You can pay with another card instead."),
        "recoverAuthenticationNotStarted": gettext("The check with your bank could not be "
                                                   "started. Please pay with a card "
                                                   "instead."),
    }
