"""axe-core (the copy axe-playwright-python ships) run in the page, and the keyboard's
view of it: what the browser tests of accessibility share."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe

AXE = Axe()
# Every axe rule (WCAG 2.0/2.1 A and AA and best practices); only these impacts fail.
FAILING_IMPACTS = ("serious", "critical")


def axe_violations(page, where: str) -> list[str]:
    """The serious and critical violations axe finds on the page as it is now (once it
    has loaded: run during a navigation, axe would check a page half there, or none)."""
    page.wait_for_load_state("load")
    found = AXE.run(page).response["violations"]
    return [f"{where}: {violation['id']} ({violation['impact']}): {violation['help']} at "
            f"{[node['target'] for node in violation['nodes']][:5]}"
            for violation in found if violation["impact"] in FAILING_IMPACTS]


def focused(page) -> dict:
    """The element with the keyboard focus: its tag, name as read out, and whether the
    focus can be seen (an outline or a box shadow)."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        const outlined = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
        const label = el.getAttribute('aria-label') || (el.labels && el.labels[0]
            && el.labels[0].textContent) || el.textContent || el.value || '';
        return {tag: el.tagName.toLowerCase(), name: label.trim().replace(/\\s+/g, ' '),
                visible: outlined || style.boxShadow !== 'none',
                inDialog: !!el.closest('[role=dialog]')};
    }""")


def tab_to(page, name: str, *, limit: int = 40, backwards: bool = False) -> dict:
    """Press Tab (Shift+Tab) until the focus is on the control named ``name``; fails when
    it never gets there, or when the focus is not visible on the way."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        now = focused(page)
        seen.append(now["name"])
        if now["tag"] != "body":
            assert now["visible"], f"no visible focus on {now}"
        if name in now["name"]:
            return now
    raise AssertionError(f"Tab never reached {name!r}; it went through {seen}")
