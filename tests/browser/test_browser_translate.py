"""The web page: translating an uploaded photo, by file picker and by drag and drop."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from browser_support import expect, message, photo, shot
from onnx_models import make_models_dir, make_translation, translator
from PIL import Image

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ready model per kind, and a translation model with only its a2b direction."""
    root = make_models_dir(tmp_path_factory.mktemp("browser") / "models")
    one_way = {"a2b": translator(seed=7)}
    make_translation(root / "one-way", graphs=one_way, domains=("label", "photo"))
    return root


def test_a_one_direction_model_offers_only_that_direction(open_page, tmp_path: Path) -> None:
    page = open_page().open("one-way")
    expect(page.locator("#tr-b2a")).to_be_disabled()
    expect(page.locator("label[for=tr-b2a]")).to_have_text("b2a: photo → label (not in this model)")
    expect(page.locator("#tr-a2b")).to_be_checked()
    expect(page.locator("#model-info")).to_contain_text("a2b")
    path = tmp_path / "labels.png"
    path.write_bytes(photo("PNG", (32, 24)))
    page.set_input_files("#tr-file", str(path))
    expect(message(page)).to_contain_text("Translated labels.png from label to photo")


def test_translate_an_uploaded_photo_both_ways(open_page, tmp_path: Path) -> None:
    page = open_page(viewport={"width": 1280, "height": 900}).open("trans")
    path = tmp_path / "horse.png"
    path.write_bytes(photo("PNG", (40, 28)))
    page.set_input_files("#tr-file", str(path))  # choosing the file translates it
    output = page.locator("#tr-output")
    expect(page.locator("#translate-result")).to_be_visible()
    expect(message(page)).to_contain_text("Translated horse.png from horse to zebra")
    page.wait_for_function("document.getElementById('tr-output').naturalWidth > 0")
    # Same size as the upload, shown beside the original.
    assert output.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [40, 28]
    assert page.locator("#tr-original").evaluate("i => i.naturalWidth") == 40
    expect(page.locator("#tr-output-caption")).to_have_text("zebra, 40x28")
    link = page.locator("#tr-download")
    assert link.get_attribute("href").startswith("blob:")
    assert link.get_attribute("download") == "horse-a2b-trans.png"
    with page.expect_download() as info:
        link.click()
    download = info.value
    saved = tmp_path / "out.png"
    download.save_as(saved)
    assert Image.open(saved).size == (40, 28)
    shot(page, "translate")
    # The direction switch translates again the other way.
    page.check("#tr-b2a")
    expect(message(page)).to_contain_text("from zebra to horse")
    expect(page.locator("#tr-output-caption")).to_have_text("horse, 40x28")
    assert link.get_attribute("download") == "horse-b2a-trans.png"


def test_translate_by_drag_and_drop(open_page) -> None:
    page = open_page().open("trans")
    data = base64.b64encode(photo("JPEG", (36, 24))).decode()
    page.evaluate(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], 'dropped.jpg', {type: 'image/jpeg'}));
            const box = document.getElementById('drop');
            for (const type of ['dragenter', 'dragover', 'drop']) {
                box.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true,
                                                       dataTransfer: dt}));
            }
        }""",
        data,
    )
    expect(message(page)).to_contain_text("Translated dropped.jpg from horse to zebra")
    page.wait_for_function("document.getElementById('tr-output').naturalWidth > 0")
    assert page.locator("#tr-output").evaluate("i => [i.naturalWidth, i.naturalHeight]") == [36, 24]
    expect(page.locator("#drop-help")).to_contain_text("dropped.jpg")
    expect(page.locator("#drop")).not_to_have_class("drop over")


def test_a_non_image_upload_is_explained(open_page) -> None:
    page = open_page().open("trans")
    page.set_input_files(
        "#tr-file",
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"these are not pixels\n" * 20},
    )
    box = message(page)
    expect(box).to_contain_text("that file is not an image")
    expect(box).to_contain_text("400 not_an_image")
    assert box.get_attribute("aria-live") == "polite"
    assert box.get_attribute("role") == "status"
    expect(page.locator("#translate-result")).to_be_hidden()
    expect(page.locator("#translate-form button[type=submit]")).to_be_enabled()
    shot(page, "bad-upload", full_page=False)


def test_a_photo_over_max_side_is_said_to_be_scaled_back(open_page, tmp_path: Path) -> None:
    """The service's max_side is 1024: a wider photo comes back at its own size, and the page
    says it was translated smaller (from X-Resized)."""
    page = open_page().open("trans")
    path = tmp_path / "wide.png"
    path.write_bytes(photo("PNG", (1100, 80)))
    page.set_input_files("#tr-file", str(path))
    expect(message(page)).to_contain_text(
        "The photo (1100x80) is larger than the service translates (max_side): it was "
        "translated at 1024x74 and scaled back up to 1100x80"
    )
    expect(page.locator("#tr-output-caption")).to_have_text(
        "zebra, 1100x80 (translated smaller, scaled back)"
    )
    page.wait_for_function("document.getElementById('tr-output').naturalWidth > 0")
    assert page.locator("#tr-output").evaluate("i => [i.naturalWidth, i.naturalHeight]") == [
        1100,
        80,
    ]
