"""Stripe's documented test cards and what each one does.

Source: Stripe's testing guide (docs.stripe.com/testing), sections "Cards by
brand", "Declined payments", "Authentication and setup" and "Regulatory (3DS)
cards", and the test PaymentMethod ids it lists (``pm_card_visa`` …).
"""

from __future__ import annotations

from dataclasses import dataclass

# What happens when a payment is attempted with the card.
SUCCEED = "succeed"
DECLINE = "decline"                  # declined at the first attempt
REQUIRE_3DS = "require_3ds"          # 3-D Secure challenge on every on-session payment
REQUIRE_3DS_THEN_DECLINE = "require_3ds_then_decline"


@dataclass(frozen=True)
class TestCard:
    number: str
    brand: str
    behaviour: str = SUCCEED
    decline_code: str | None = None  # with DECLINE / REQUIRE_3DS_THEN_DECLINE
    error_code: str = "card_declined"
    country: str = "US"
    funding: str = "credit"


DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card was declined.",
    "stolen_card": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "card_velocity_exceeded": "Your card was declined for making repeated attempts too frequently "
                              "or exceeding its amount limit.",
    "fraudulent": "Your card was declined.",
}

_CARDS = [
    TestCard("4242424242424242", "visa"),
    TestCard("4000056655665556", "visa", funding="debit"),
    TestCard("5555555555554444", "mastercard"),
    TestCard("2223003122003222", "mastercard"),
    TestCard("5200828282828210", "mastercard", funding="debit"),
    TestCard("378282246310005", "amex"),
    TestCard("6011111111111117", "discover"),
    TestCard("3056930009020004", "diners"),
    TestCard("36227206271667", "diners"),  # 14 digits
    TestCard("3566002020360505", "jcb"),
    TestCard("6200000000000005", "unionpay"),
    TestCard("4000000000003055", "visa"),  # 3DS supported, not required: succeeds
    TestCard("4000000000000002", "visa", DECLINE, "generic_decline"),
    TestCard("4000000000009995", "visa", DECLINE, "insufficient_funds"),
    TestCard("4000000000009987", "visa", DECLINE, "lost_card"),
    TestCard("4000000000009979", "visa", DECLINE, "stolen_card"),
    TestCard("4000000000000069", "visa", DECLINE, "expired_card", error_code="expired_card"),
    TestCard("4000000000000127", "visa", DECLINE, "incorrect_cvc", error_code="incorrect_cvc"),
    TestCard("4000000000000119", "visa", DECLINE, "processing_error",
             error_code="processing_error"),
    TestCard("4000000000006975", "visa", DECLINE, "card_velocity_exceeded"),
    # "Fraud prevention" (and docs.stripe.com/radar/testing): always blocked; highest risk,
    # blocked by Radar's default rule; the CVC check fails when a CVC is sent (the
    # checkout always sends one), blocked by the default rule; attaching succeeds and
    # every charge fails.
    TestCard("4100000000000019", "visa", DECLINE, "fraudulent"),
    TestCard("4000000000004954", "visa", DECLINE, "fraudulent"),
    TestCard("4000000000000101", "visa", DECLINE, "incorrect_cvc", error_code="incorrect_cvc"),
    TestCard("4000000000000341", "visa", DECLINE, "generic_decline"),
    # The digits after "4000 00" are the ISO 3166 numeric country (250 FR, 276 DE, 826 GB).
    TestCard("4000002500003155", "visa", REQUIRE_3DS, country="FR"),
    TestCard("4000002760003184", "visa", REQUIRE_3DS, country="DE"),
    TestCard("4000000000003220", "visa", REQUIRE_3DS),
    TestCard("4000000000003063", "visa", REQUIRE_3DS),
    TestCard("4000008260003178", "visa", REQUIRE_3DS_THEN_DECLINE, "insufficient_funds",
             country="GB"),
    TestCard("4000008400001629", "visa", REQUIRE_3DS_THEN_DECLINE, "generic_decline"),
    TestCard("4000008400001280", "visa", REQUIRE_3DS_THEN_DECLINE, "processing_error",
             error_code="processing_error"),
    # "Already set up": off-session payments pass, on-session ones (the checkout's) are
    # challenged like 3184.
    TestCard("4000003800000446", "visa", REQUIRE_3DS),
]
CARDS_BY_NUMBER = {card.number: card for card in _CARDS}

# Stripe's test PaymentMethod ids (docs.stripe.com/testing#cards) and the card behind each.
TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_discover": "6011111111111117",
    "pm_card_diners": "3056930009020004",
    "pm_card_jcb": "3566002020360505",
    "pm_card_unionpay": "6200000000000005",
    "pm_card_chargeDeclinedFraudulent": "4100000000000019",
    "pm_card_riskLevelHighest": "4000000000004954",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_threeDSecure2Required": "4000000000003220",
    "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds": "4000008260003178",
}


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith(("34", "37")):
        return "amex"
    if number.startswith(("51", "52", "53", "54", "55", "22", "23", "24", "25", "26", "27")):
        return "mastercard"
    if number.startswith(("6011", "65")):
        return "discover"
    if number.startswith(("300", "301", "302", "303", "304", "305", "36", "38", "39")):
        return "diners"
    if number.startswith("35"):
        return "jcb"
    if number.startswith("62"):
        return "unionpay"
    if number.startswith("4"):
        return "visa"
    return "unknown"


def card_for(number: str) -> TestCard:
    """The documented behaviour, or an ordinary successful card of the number's brand."""
    return CARDS_BY_NUMBER.get(number) or TestCard(number, brand_of(number))
