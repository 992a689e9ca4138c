"""Keyboard-first checks: which element holds the focus once the page has settled."""

from playwright.sync_api import TimeoutError as PlaywrightTimeout

_HAS_FOCUS = "sel => !!document.activeElement && document.activeElement.matches(sel)"
_FOCUSED = "() => { const e = document.activeElement; return e ? e.outerHTML.slice(0, 120) : null; }"


def assert_focus(page, selector: str, timeout: float = 5_000) -> None:
    """The element matching ``selector`` has the keyboard focus.

    A click on a link returns once the navigation has begun, so the new document may still be loading
    (``document.activeElement`` is null then); wait for the page to settle instead of racing it, and
    say what holds the focus when the check fails.
    """
    try:
        page.wait_for_function(_HAS_FOCUS, arg=selector, timeout=timeout)
    except PlaywrightTimeout:
        raise AssertionError(f"{selector} does not have the focus; it is on {page.evaluate(_FOCUSED)!r}") from None
