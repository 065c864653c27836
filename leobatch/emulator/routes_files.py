"""Init-image uploads, the fake S3 presigned-POST target, and the CDN (api-facts section 6)."""

from __future__ import annotations

import io
import json
from typing import Any

import anyio.to_thread
from PIL import Image as PILImage
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from leobatch.emulator.config import SLOW_DOWNLOAD_S
from leobatch.emulator.http import ok, origin_of, read_body, state_of
from leobatch.emulator.jobs import new_id
from leobatch.emulator.records import InitImage
from leobatch.emulator.refusal import bad_request
from leobatch.emulator.render import MEDIA_TYPES, render
from leobatch.emulator.responses import SlowResponse, TruncatedResponse
from leobatch.emulator.rules import check_path_id
from leobatch.emulator.state import iso_now

__all__ = ["API_ROUTES", "S3_PATH", "cdn", "s3_upload"]

S3_PATH = "/_s3/init-images"
_EXTENSIONS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}
_WINDOW_S = 120.0


async def create_init_image(request: Request) -> Response:
    """POST /init-image: step 1, an id plus a presigned POST (``fields`` is a JSON string)."""
    state = state_of(request)
    body = await read_body(request, "/init-image")
    extension = body["extension"]
    if extension not in _EXTENSIONS:
        raise bad_request("invalid file extension")
    image_id = new_id()
    key = f"users/{state.config.user_id}/initImages/{image_id}.{extension}"
    record = InitImage(image_id, extension, state.now(), iso_now(), key, "/cdn/" + key)
    state.init_images[image_id] = record
    state.init_by_key[key] = image_id
    fields = {
        "Content-Type": f"image/{'jpeg' if extension == 'jpg' else extension}",
        "bucket": "emulator-init-images",
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": "EMULATOR/20260101/us-east-1/s3/aws4_request",
        "X-Amz-Date": "20260101T000000Z",
        "key": key,
        "Policy": "ZW11bGF0b3I=",
        "X-Amz-Signature": image_id.replace("-", ""),
    }
    upload = {"id": image_id, "url": origin_of(request) + S3_PATH, "fields": json.dumps(fields),
              "key": key}  # fmt: skip
    return ok({"uploadInitImage": upload})


async def get_init_image(request: Request) -> Response:
    """GET /init-image/{id}."""
    state = state_of(request)
    check_path_id(request.path_params["id"])
    record = state.init_images.get(request.path_params["id"])
    if record is None:
        return ok({"init_images_by_pk": None})
    row = {"id": record.id, "url": origin_of(request) + record.path, "createdAt": record.created_at}
    return ok({"init_images_by_pk": row})


async def delete_init_image(request: Request) -> Response:
    """DELETE /init-image/{id}."""
    state = state_of(request)
    check_path_id(request.path_params["id"])
    record = state.init_images.pop(request.path_params["id"], None)
    state.count_delete(request.path_params["id"], found=record is not None)
    if record is None:
        return ok({"delete_init_images_by_pk": None})
    state.uploads.pop(record.id, None)
    state.init_by_key.pop(record.key, None)
    state.upload_bytes.pop(record.key, None)
    return ok({"delete_init_images_by_pk": {"id": record.id}})


def _s3_error(status: int, code: str, message: str) -> Response:
    xml = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>" \
          f"<Message>{message}</Message></Error>"  # fmt: skip
    return Response(xml, status, media_type="application/xml")


def _decoded_size(data: bytes, extension: str) -> tuple[int, int] | None:
    try:
        with PILImage.open(io.BytesIO(data)) as image:
            if image.format != _EXTENSIONS[extension]:
                return None
            image.load()
            width, height = image.size
            return int(width), int(height)
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError):
        return None  # not an image of the declared type: the upload is refused


async def s3_upload(request: Request) -> Response:
    """Step 2: multipart fields + ``file``; 204, or 403 with an auth header or after 2 minutes."""
    state = state_of(request)
    state.requests["POST " + S3_PATH] += 1
    if "authorization" in request.headers:
        return _s3_error(403, "AccessDenied", "Only one auth mechanism allowed")
    async with request.form() as form:
        key, file = form.get("key"), form.get("file")
        data = await file.read() if isinstance(file, UploadFile) else None
    found = state.init_by_key.get(key) if isinstance(key, str) else None
    record = state.init_images.get(found) if found else None
    if record is None or data is None:
        return _s3_error(403, "AccessDenied", "Invalid according to Policy")
    if state.now() - record.created > _WINDOW_S * state.config.time_scale:
        return _s3_error(403, "AccessDenied", "Invalid according to Policy: Policy expired")
    size = _decoded_size(data, record.extension)
    if size is None:
        return _s3_error(400, "InvalidArgument", f"the file is not a {record.extension} image")
    state.uploads[record.id] = (data, size[0], size[1])
    state.upload_bytes[record.key] = data
    return Response(status_code=204)


async def cdn(request: Request) -> Response:
    """Every output file, drawn on first request; the same URL always gives the same bytes."""
    state = state_of(request)
    state.requests["GET /cdn"] += 1
    path = request.path_params["path"]
    uploaded = state.upload_bytes.get(path)
    if uploaded is not None:
        media = "image/" + ("jpeg" if path.endswith(("jpg", "jpeg")) else path.rsplit(".", 1)[-1])
        return Response(uploaded, media_type=media)
    asset = state.assets.get(path)
    if asset is None or asset.failed or state.now() < asset.ready:
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
    data = await anyio.to_thread.run_sync(render, asset)
    if state.fault("truncate"):
        return TruncatedResponse(data, media_type=MEDIA_TYPES[asset.kind])
    if state.fault("slow"):
        slow_s = SLOW_DOWNLOAD_S * state.config.time_scale
        return SlowResponse(data, MEDIA_TYPES[asset.kind], slow_s)
    return Response(data, media_type=MEDIA_TYPES[asset.kind])


API_ROUTES: list[tuple[str, str, Any, str | None]] = [
    ("/init-image", "POST", create_init_image, None),
    ("/init-image/{id}", "GET", get_init_image, None),
    ("/init-image/{id}", "DELETE", delete_init_image, None),
]
