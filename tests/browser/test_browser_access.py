"""The web page: keyboard focus, a phone, an API key, and a proxy's path prefix."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import API_KEY, PHONE, expect, message, photo, shot
from live_server import LiveServer

pytestmark = pytest.mark.browser


def test_focus_is_visible(open_page) -> None:
    page = open_page().open("uncond")
    page.focus("#gen-n")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        """() => { const el = document.activeElement; const s = getComputedStyle(el);
                   return [el.id, s.outlineStyle, s.outlineWidth]; }"""
    )
    assert focused[0] == "gen-seed"
    assert focused[1] != "none" and focused[2] != "0px", focused


def test_readable_on_a_phone(open_page, tmp_path: Path) -> None:
    p = open_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = p.open("cond")
    page.fill("#gen-n", "8")
    page.fill("#gen-seed", "7")
    page.click("#generate-form button[type=submit]")
    expect(page.locator("#grid .tile")).to_have_count(8)
    page.locator("#grid .tile").nth(1).click()
    expect(page.locator("#selected")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone: {width}px"
    box = page.locator("#generate-form button[type=submit]").bounding_box()
    assert box["height"] >= 36 and box["width"] > 200  # a full-width, thumb-sized button
    shot(page, "phone-generate")
    page.select_option("#model", "trans")
    path = tmp_path / "horse.jpg"
    path.write_bytes(photo("JPEG", (64, 48)))
    page.set_input_files("#tr-file", str(path))
    page.wait_for_function("document.getElementById('tr-output').naturalWidth > 0")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "phone-translate")


def test_api_key_is_asked_for_and_sent(open_page, keyed_server: LiveServer) -> None:
    p = open_page(keyed_server)
    page = p.page
    page.goto(keyed_server.url + "/")
    expect(message(page)).to_contain_text("needs an API key")
    expect(page.locator("#auth")).to_have_attribute("open", "")
    expect(page.locator("#api-key")).to_be_focused()
    page.fill("#api-key", API_KEY)
    page.press("#api-key", "Enter")
    expect(page.locator("#model")).to_be_enabled()
    assert page.evaluate("sessionStorage.getItem('ganserve.apiKey')") == API_KEY
    page.select_option("#model", "uncond")
    with page.expect_request("**/generate") as sent:
        page.click("#generate-form button[type=submit]")
    assert sent.value.headers["authorization"] == f"Bearer {API_KEY}"
    expect(page.locator("#grid .tile")).to_have_count(16)
    # The key lives in the tab: a reload keeps it.
    page.reload()
    expect(page.locator("#model")).to_be_enabled()


def test_page_works_behind_a_path_prefix(open_page, server: LiveServer) -> None:
    """Everything is a relative URL: a proxy that mounts the service under /gan/ just works."""
    p = open_page()
    page = p.page
    prefix = server.url + "/gan/"

    def strip_prefix(route: object) -> None:
        url = route.request.url.replace("/gan/", "/", 1)
        response = route.fetch(url=url)
        route.fulfill(response=response)

    page.route(prefix + "**", strip_prefix)
    page.goto(prefix + "#uncond")
    expect(page.locator("#model")).to_have_value("uncond")
    page.click("#generate-form button[type=submit]")
    expect(page.locator("#grid .tile")).to_have_count(16)
    asked = [u for u in p.requests if u.startswith("http")]
    assert asked and all(u.startswith(prefix) for u in asked), asked
