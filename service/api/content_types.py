"""What a route's body must be sent as, and refusals that say how to send it.

The two mistakes a new user makes first: a JSON body without `content-type: application/json`
(curl's `-d` alone sends `application/x-www-form-urlencoded`), and a photo sent as the raw
body, or under another field name, instead of in a multipart form's `file` field. FastAPI
answers both with a validation riddle ("Input should be a valid dictionary", "file: Field
required"); these answers name what to send.
"""

from __future__ import annotations

from fastapi import Request

from service.api.errors import ApiError

SEND_JSON = (
    "send the body as JSON with content-type: application/json "
    "(curl -H 'content-type: application/json' -d '{...}')"
)
SEND_PHOTO = (
    "send a multipart form (content-type: multipart/form-data) with the photo in the field "
    "`file` (curl -F file=@photo.jpg)"
)


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`; absent -> ``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    """FastAPI's test: `application/json` or `application/<anything>+json`."""
    kind, _, subtype = media_type(content_type).partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _got(content_type: str | None) -> str:
    return f"got {media_type(content_type)}" if content_type else "no content-type was sent"


def not_json(content_type: str | None) -> ApiError:
    """The answer to a JSON route's body sent as anything else."""
    return ApiError(415, "wrong_content_type", f"{SEND_JSON}; {_got(content_type)}")


async def multipart_form(request: Request) -> None:
    """A dependency of the upload route: its body is a multipart form with a file in `file`.
    FastAPI has parsed the form by now (`request.form()` answers the parsed one); this runs
    before its own checks, whose answer would be `file: Field required`."""
    content_type = request.headers.get("content-type")
    if media_type(content_type) != "multipart/form-data":
        raise ApiError(415, "wrong_content_type", f"{SEND_PHOTO}; {_got(content_type)}")
    form = await request.form()
    photo = form.get("file")
    if photo is None:
        fields = ", ".join(f"`{name}`" for name in form) or "no fields"
        raise ApiError(422, "missing_file", f"the form has {fields}, no `file`: {SEND_PHOTO}")
    if isinstance(photo, str):
        text = "the field `file` holds text, not a file (curl wants -F file=@path)"
        raise ApiError(422, "missing_file", f"{text}: {SEND_PHOTO}")
