"""A photo-like upload on the Similar page (issue 14, item 16): the page says the models expect a single item on a
plain background, before the preview of what the model will actually see; a plain picture gets no such notice.
AppTest on the dashboard with the shipped checkpoints."""

from __future__ import annotations

from explorer.upload import CLUTTERED
from tests.support.pages import open_link
from tests.test_upload import gradient_photo


def _upload(data: bytes, name: str):
    at = open_link({"page": "similar", "variant": "dense"})
    at.file_uploader(key="similar_upload").upload(name, data, "image/jpeg" if name.endswith(".jpg") else "image/png")
    at.run()
    assert not at.exception and not at.error
    return at


def test_a_photo_like_upload_is_named_and_shows_what_the_model_sees(fmnist):
    at = _upload(gradient_photo(fmnist), "phone.jpg")
    assert [w.value for w in at.warning] == [CLUTTERED]
    captions = [c for im in at.get("image") for c in im.captions]
    assert "As the model sees it (28×28)" in captions and any(c.startswith("Your picture (") for c in captions)


def test_a_plain_upload_gets_no_background_notice(photo_png):
    at = _upload(photo_png, "photo.png")
    assert not at.warning
    assert "As the model sees it (28×28)" in [c for im in at.get("image") for c in im.captions]
