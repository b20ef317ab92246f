"""A shopper who leaves in the middle of 3-D Secure, as the monitoring and ops browser
tests need one."""

from __future__ import annotations

import json

from tests.browser.test_checkout import enter_card, to_payment


def shopper_leaves(context, shop: str, *, complete_the_modal: bool) -> str:
    """In ``context`` (the caller's browser session), pay 89.00 EUR with 3155 and leave: at
    the bank's modal, or after passing it but before the page's second confirm reaches
    the server. Returns the order page's address."""
    page = context.new_page()
    page.set_default_timeout(10_000)
    to_payment(page, shop)
    order_url = page.url
    dropped: list[str] = []

    def drop_second_confirm(route) -> None:
        if "payment_intent_id" in json.loads(route.request.post_data or "{}"):
            dropped.append(route.request.url)  # the tab "closes" before this reaches us
            route.abort()
        else:
            route.continue_()

    page.route("**/pay", drop_second_confirm)
    enter_card(page, "4000 0025 0000 3155")
    page.get_by_role("button", name="Pay 89.00 EUR").click()
    page.get_by_role("button", name="Complete authentication").wait_for()
    if complete_the_modal:
        page.get_by_role("button", name="Complete authentication").click()
        for _ in range(100):  # Playwright handles the route only while we wait through it
            if dropped:
                break
            page.wait_for_timeout(100)
        assert dropped, "the browser never sent the second confirm"
    page.close()
    return order_url
