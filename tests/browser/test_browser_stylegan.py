"""The web page with StyleGAN models: the psi slider set to the model's own psi, the labels of
one with classes, and the images the page shows being the ones the API draws."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from browser_support import expect, message
from onnx_models import make_stylegan

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny StyleGANs: `faces` (psi 0.7, no classes) and `digits` (three classes)."""
    root = tmp_path_factory.mktemp("browser-stylegan") / "models"
    make_stylegan(root / "faces", psi=0.7)
    make_stylegan(root / "digits", c_dim=3, seed=4)
    return root


def test_psi_slider_sends_truncation_psi_and_the_grid_is_the_apis(open_page) -> None:
    p = open_page()
    page = p.open("faces")
    info = page.locator("#model-info")
    expect(info).to_contain_text("stylegan2, 8\u00d78, 4 ws of 6, no classes, default ψ 0.7")
    expect(page.locator("#gen-psi")).to_be_visible()
    expect(page.locator("#gen-psi")).to_have_value("0.7")
    expect(page.locator("#gen-psi-value")).to_have_text("0.70")
    expect(page.locator("#gen-trunc")).to_be_hidden()
    expect(page.locator("#gen-label")).to_be_hidden()
    page.fill("#gen-n", "3")
    page.fill("#gen-seed", "20")
    page.locator("#gen-psi").fill("0.3")
    expect(page.locator("#gen-psi-value")).to_have_text("0.30")
    with page.expect_request("**/generate") as sent:
        page.click("#generate-form button[type=submit]")
    assert sent.value.post_data_json["truncation_psi"] == 0.3
    assert "truncation" not in sent.value.post_data_json
    expect(page.locator("#grid .tile")).to_have_count(3)
    expect(message(page)).to_contain_text("3 images from faces, seeds 20 to 22")
    shown = page.locator("#grid img").first.get_attribute("src")
    body = {"model": "faces", "n": 1, "seed": 20, "truncation_psi": 0.3}
    png = httpx.post(f"{p.server.url}/generate", json=body).json()["images"][0]["png"]
    assert shown.endswith(png)


def test_a_stylegan_with_classes_takes_labels_and_walks_in_w(open_page) -> None:
    page = open_page().open("digits")
    expect(page.locator("#gen-label")).to_be_visible()
    expect(page.locator("#gen-psi")).to_have_value("1")
    page.select_option("#int-label", "k2")
    page.locator("#int-psi").fill("0.5")
    page.fill("#int-steps", "4")
    with page.expect_request("**/interpolate") as sent:
        page.click("#interpolate-form button[type=submit]")
    assert sent.value.post_data_json["truncation_psi"] == 0.5
    assert sent.value.post_data_json["label"] == "k2"
    expect(page.locator("#strip .tile")).to_have_count(4)
    expect(message(page)).to_contain_text("4 images from seed 1 to seed 2")
