"""The web page: the model list, generating, interpolating, and the answers to bad input."""

from __future__ import annotations

import re

import pytest
from browser_support import expect, message, shot

pytestmark = pytest.mark.browser


def test_models_are_listed_with_their_details(open_page) -> None:
    p = open_page()
    page = p.open()
    options = page.locator("#model option")
    values = options.evaluate_all("os => os.map(o => o.value)")
    assert sorted(values) == ["broken", "cond", "placeholder", "trans", "uncond"]
    page.select_option("#model", "cond")
    info = page.locator("#model-info")
    expect(info).to_contain_text("conditional")
    expect(info).to_contain_text("CPUExecutionProvider")
    for name in ("cat", "dog", "bird"):
        expect(info).to_contain_text(name)
    expect(page.locator("#readiness")).to_contain_text("ready · 4 models")
    page.select_option("#model", "trans")
    expect(info).to_contain_text("a = horse, b = zebra")
    expect(page.locator("#generate-section")).to_be_hidden()
    expect(page.locator("#translate-section")).to_be_visible()
    expect(page.locator("label[for=tr-a2b]")).to_have_text("a2b: horse → zebra")
    expect(page.locator("label[for=tr-b2a]")).to_have_text("b2a: zebra → horse")
    # Every control a person can reach has a label.
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
             .filter(el => el.type !== 'hidden' && el.labels.length === 0)
             .map(el => el.id || el.name)"""
    )
    assert unlabelled == []


def test_untrained_and_failed_models_are_flagged(open_page) -> None:
    page = open_page().open()
    expect(page.locator("#model option[value=placeholder]")).to_have_text("placeholder (untrained)")
    expect(page.locator("#model option[value=broken]")).to_have_text("broken (failed)")
    page.select_option("#model", "placeholder")
    expect(page.locator("#model-info")).to_contain_text("no: untrained placeholder")
    expect(page.locator("#generate-section")).to_be_visible()
    page.select_option("#model", "broken")
    expect(page.locator("#model-info")).to_contain_text("failed:")
    expect(page.locator("#generate-section")).to_be_hidden()
    expect(page.locator("#translate-section")).to_be_hidden()
    expect(page.locator("#empty-section")).to_contain_text("broken is not ready")
    expect(page).to_have_url(re.compile(r"#broken$"))


def test_generate_a_grid_with_label_and_seed(open_page) -> None:
    p = open_page(viewport={"width": 1280, "height": 900})
    page = p.open("cond")
    page.fill("#gen-n", "6")
    page.select_option("#gen-label", "dog")
    page.fill("#gen-seed", "40")
    page.click("#generate-form button[type=submit]")
    tiles = page.locator("#grid .tile")
    expect(tiles).to_have_count(6)
    expect(message(page)).to_contain_text("6 images from cond, seeds 40 to 45")
    titles = tiles.evaluate_all("ts => ts.map(t => t.title)")
    assert titles == [f"seed {s}, label 1 (dog)" for s in range(40, 46)]
    expect(tiles.nth(0).locator(".caption")).to_have_text("40 · dog")
    # Images really decoded (8x8 PNGs from the model).
    assert page.locator("#grid img").evaluate_all("is => is.every(i => i.naturalWidth === 8)")
    # Details by keyboard: focus a tile, press Enter.
    tiles.nth(2).focus()
    page.keyboard.press("Enter")
    details = page.locator("#selected")
    expect(details).to_be_visible()
    expect(details).to_contain_text("42")
    expect(details).to_contain_text("1 (dog)")
    expect(tiles.nth(2)).to_have_attribute("aria-pressed", "true")
    assert page.locator("#selected-download").get_attribute("download") == "cond-seed42-dog.png"
    page.click("#use-b")
    expect(page.locator("#int-b")).to_have_value("42")
    shot(page, "generate")


def test_generate_without_seed_shows_random_seeds(open_page) -> None:
    page = open_page().open("uncond")
    expect(page.locator("#gen-label")).to_be_hidden()
    page.fill("#gen-n", "3")
    page.press("#gen-n", "Enter")  # submitting with the keyboard
    expect(page.locator("#grid .tile")).to_have_count(3)
    titles = page.locator("#grid .tile").evaluate_all("ts => ts.map(t => t.title)")
    assert all(t.startswith("seed ") and t[5:].isdigit() for t in titles), titles


def test_interpolate_strip_has_steps_images(open_page) -> None:
    page = open_page(viewport={"width": 1280, "height": 900}).open("uncond")
    page.fill("#int-a", "3")
    page.fill("#int-b", "9")
    page.fill("#int-steps", "7")
    page.check("#int-lerp")
    page.click("#interpolate-form button[type=submit]")
    tiles = page.locator("#strip .tile")
    expect(tiles).to_have_count(7)
    expect(message(page)).to_contain_text("7 images from seed 3 to seed 9 (lerp)")
    expect(tiles.nth(0).locator(".caption")).to_have_text("lerp t=0.00")
    expect(tiles.nth(6).locator(".caption")).to_have_text("lerp t=1.00")
    assert tiles.nth(0).get_attribute("title") == "lerp t=0.00, seed 3"
    assert tiles.nth(6).get_attribute("title") == "lerp t=1.00, seed 9"
    tiles.nth(3).click()
    expect(page.locator("#selected")).to_contain_text("lerp t=0.50")
    shot(page, "interpolate")


def test_interpolate_slerp_with_a_label(open_page) -> None:
    page = open_page().open("cond")
    page.select_option("#int-label", "bird")
    page.fill("#int-steps", "4")
    page.click("#interpolate-form button[type=submit]")
    tiles = page.locator("#strip .tile")
    expect(tiles).to_have_count(4)
    assert all("label 2 (bird)" in t for t in tiles.evaluate_all("ts => ts.map(t => t.title)"))


def test_an_unknown_label_is_explained(open_page) -> None:
    page = open_page().open("cond")
    # The select only offers the model's classes; a stale page could still send another.
    page.evaluate("document.getElementById('gen-label').add(new Option('unicorn', 'unicorn'))")
    page.select_option("#gen-label", "unicorn")
    page.click("#generate-form button[type=submit]")
    box = message(page)
    expect(box).to_contain_text("unknown label")
    expect(box).to_contain_text("unicorn")
    expect(box).to_contain_text("422 unknown_class")


def test_overload_shows_retry_after_and_holds_the_button(open_page) -> None:
    p = open_page()
    page = p.open("uncond")
    body = '{"error": {"code": "overloaded", "message": "uncond is busy: queue full"}}'
    # A queue that is really full is hard to hold still; the 503 is replayed exactly.
    page.route(
        "**/generate",
        lambda route: route.fulfill(
            status=503,
            headers={"Retry-After": "2", "Content-Type": "application/json"},
            body=body,
        ),
    )
    button = page.locator("#generate-form button[type=submit]")
    button.click()
    box = message(page)
    expect(box).to_contain_text("the service is overloaded")
    expect(box).to_contain_text("Try again in 2 s")
    expect(button).to_be_disabled()
    expect(button).to_contain_text("(")
    page.unroute("**/generate")
    expect(button).to_be_enabled(timeout=5_000)
    expect(button).to_have_text("Generate")
    button.click()
    expect(page.locator("#grid .tile")).to_have_count(16)


def test_invalid_input_is_caught_before_sending(open_page) -> None:
    page = open_page().open("uncond")
    page.fill("#gen-n", "0")
    page.click("#generate-form button[type=submit]")
    expect(message(page)).to_contain_text("Images (n) must be a whole number")
    expect(page.locator("#gen-n")).to_have_attribute("aria-invalid", "true")
    page.fill("#gen-n", "33")  # over the service's max_n (32): the API says so
    page.click("#generate-form button[type=submit]")
    expect(message(page)).to_contain_text("n_out_of_range")
