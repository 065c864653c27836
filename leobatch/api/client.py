"""The async Leonardo API client: the only place the wire format is spoken.

One ``httpx.AsyncClient`` per :class:`LeonardoClient`, anyio only (runs on asyncio and trio).
Failures are translated into :mod:`leobatch.errors` at this edge. Idempotent calls (reads,
``/me``, the pricing calculator, uploads) are retried on 429 and transient errors with
:func:`delay_s`; creates never are, because a create whose answer was lost may still have been
charged: the scheduler reconciles it against the generation list before trying again.
"""

from __future__ import annotations

import json
import random
from collections.abc import Container, Mapping, Sequence
from types import TracebackType
from typing import Any

import anyio
import httpx

from leobatch.api._backoff import RetryPolicy, delay_s
from leobatch.api._config import DEFAULT_BASE_URL, check_base_url, check_key, settings_from_env
from leobatch.api._models import (
    Account,
    Created,
    Element,
    GeneratedImage,
    Generation,
    ImprovedPrompt,
    InitImage,
    PlatformModel,
    V2Model,
    Variation,
    parse_account,
    parse_created,
    parse_element,
    parse_generation,
    parse_init_image,
    parse_platform_model,
    parse_v2_model,
    parse_variation,
)
from leobatch.api._scalars import as_int, as_list, as_map, as_str
from leobatch.api._translate import error_from_body
from leobatch.api._transport import Transport
from leobatch.api.wire import ENDPOINTS, Endpoint
from leobatch.errors import ApiError, NotFoundError, PricingError, TransientError

__all__ = [
    "DEFAULT_BASE_URL",
    "Account",
    "Created",
    "Element",
    "GeneratedImage",
    "Generation",
    "ImprovedPrompt",
    "InitImage",
    "LeonardoClient",
    "PlatformModel",
    "RetryPolicy",
    "V2Model",
    "Variation",
    "delay_s",
    "v2_root",
]

_UPLOAD_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}


class LeonardoClient:
    """Async client: one httpx.AsyncClient; the only place the wire format is spoken.

    Use it as ``async with LeonardoClient.from_env() as client: ...``. The key is sent only
    as the ``Authorization`` header of API requests; it is in no message, log line or repr.
    ``transport`` lets tests run in-process (``httpx.ASGITransport``); with one, any base URL
    is accepted, since nothing leaves the process.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 64,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        key = self._key = check_key(api_key)
        self._rng = rng if rng is not None else random.Random()
        self.base_url = base_url.rstrip("/") if transport is not None else check_base_url(base_url)
        self._wire = Transport(
            key,
            self.base_url,
            timeout_s=timeout_s,
            transport=transport,
            max_connections=max_connections,
            retry=retry if retry is not None else RetryPolicy(),
            rng=self._rng,
        )

    @classmethod
    def from_env(cls, **kw: Any) -> LeonardoClient:
        """A client for ``LEONARDO_API_KEY`` at ``LEONARDO_API_BASE_URL`` (or the real API)."""
        api_key, base_url = settings_from_env()
        return cls(api_key, base_url, **kw)

    def __repr__(self) -> str:
        return f"LeonardoClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> LeonardoClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def retry(self) -> RetryPolicy:
        """How idempotent calls are retried."""
        return self._wire.retry

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._wire.aclose()

    async def _get(self, path: str, **kw: Any) -> Mapping[str, Any]:
        data, _ = await self._wire.call("GET", path, idempotent=True, **kw)
        return data

    # -- account, models, elements -----------------------------------------------------------

    async def me(self) -> Account:
        """The account behind the key: credits, slots, renewal date."""
        details = as_list((await self._get("/me")).get("user_details"))
        if not details:
            raise ApiError("GET /me: the response has no user_details")
        return parse_account(as_map(details[0]))

    async def platform_models(self) -> tuple[PlatformModel, ...]:
        """The platform models the API offers (``GET /platformModels``)."""
        data = await self._get("/platformModels")
        return tuple(parse_platform_model(as_map(m)) for m in as_list(data.get("custom_models")))

    async def v2_models(self) -> tuple[V2Model, ...]:
        """The models the v2 surface lists (``GET /v2/models``; api-v2-facts 1.1).

        Read tolerantly: the documented ``{"productionApiAvailableModels": [...]}``, a bare
        array, or ``models`` / ``data``. Entries that are not objects are skipped.
        """
        data = await self._json("GET", "/v2/models", idempotent=True, surface="v2")
        rows: Any = data
        if isinstance(data, Mapping):
            for key in ("productionApiAvailableModels", "models", "data"):
                if isinstance(data.get(key), list):
                    rows = data[key]
                    break
        return tuple(parse_v2_model(row) for row in as_list(rows) if isinstance(row, Mapping))

    async def elements(self) -> tuple[Element, ...]:
        """The platform elements (LoRAs) (``GET /elements``)."""
        data = await self._get("/elements")
        return tuple(parse_element(as_map(e)) for e in as_list(data.get("loras")))

    # -- creates -----------------------------------------------------------------------------

    async def create(self, endpoint: str, body: Mapping[str, Any]) -> Created:
        """POST ``body`` to a create endpoint (a ``wire.ENDPOINTS`` key). Never retried.

        A 2xx answer that carries an error (a GraphQL error array, or a flat ``{error, path,
        code}``: the API sometimes refuses with HTTP 200) raises the error it states: it is
        a failed create, never a success. A 2xx answer with neither an error nor the job
        object is of unknown effect (:class:`TransientError`: reconcile before resubmitting).
        """
        spec = ENDPOINTS.get(endpoint)
        if spec is None:
            raise ValueError(f"not a create endpoint: {endpoint!r}")
        data = await self._json(
            "POST", spec.path, idempotent=False, surface=spec.surface, json=dict(body),
            expected_key=spec.response_key,
        )  # fmt: skip
        job = _job_object(data, spec)
        if job is None:
            raise TransientError(f"POST {spec.path}: the response has no {spec.response_key}")
        created = parse_created(job, spec.job_id_field)
        if spec.job_id_field and not created.id:
            raise TransientError(f"POST {spec.path}: the response has no {spec.job_id_field}")
        return created

    async def _json(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        surface: str = "v1",
        expected_key: str = "",
        **kw: Any,
    ) -> Any:
        """The parsed JSON (object or array) at ``path`` on ``surface``; errors in a 2xx raised.

        A 2xx body that does not parse was cut short: an idempotent call is asked again (a
        few times), any other is of unknown effect (:class:`TransientError`).
        """
        base = self.base_url if surface == "v1" else v2_root(self.base_url)
        what = f"{method} {path}"
        for cut in range(1, self.retry.attempts + 1):
            response, _ = await self._wire.send(
                method, base + path, what, idempotent=idempotent, **kw
            )
            try:
                data = response.json()
            except (ValueError, UnicodeDecodeError) as e:
                error = TransientError(f"{what}: the response is not JSON", status=200)
                if not idempotent or cut >= self.retry.attempts:
                    raise error from e
                policy = self.retry
                await anyio.sleep(
                    delay_s(cut - 1, None, self._rng, base_s=policy.base_s, cap_s=policy.cap_s)
                )
                continue
            failure = error_from_body(
                what, data, response.headers, self._key, expected_key=expected_key
            )
            if failure is not None:
                raise failure
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    async def improve_prompt(
        self, prompt: str, *, instructions: str | None = None, is_video: bool = False
    ) -> ImprovedPrompt:
        """``POST /prompt/improve`` (edit mode with ``instructions``); costs credits: no retry."""
        body: dict[str, Any] = {"prompt": prompt}
        if instructions is not None:
            body["promptInstructions"] = instructions
        if is_video:
            body["isVideo"] = True
        created = await self.create("/prompt/improve", body)
        if created.text is None:
            raise TransientError("POST /prompt/improve: the response has no prompt")
        return ImprovedPrompt(text=created.text, credits=created.credits)

    # -- status ------------------------------------------------------------------------------

    async def get_generation(self, generation_id: str) -> Generation | None:
        """A generation, or ``None`` if the API does not know the id."""
        data = await self._get(f"/generations/{_seg(generation_id)}")
        obj = data.get("generations_by_pk")
        return parse_generation(obj) if isinstance(obj, Mapping) else None

    async def list_generations(
        self, user_id: str, *, offset: int = 0, limit: int = 50
    ) -> tuple[Generation, ...]:
        """One page of the user's generations, newest first."""
        rows = await self._listing(user_id, offset, limit)
        return tuple(parse_generation(as_map(g)) for g in rows)

    async def find_generations(
        self, user_id: str, ids: Container[str], *, offset: int = 0, limit: int = 50
    ) -> tuple[tuple[Generation, ...], int]:
        """The generations in ``ids`` on one page of the user's listing, and the page's size.

        Only those are parsed: a status poll reads a page of mostly settled generations.
        """
        rows = await self._listing(user_id, offset, limit)
        wanted = tuple(
            parse_generation(row)
            for row in rows
            if isinstance(row, Mapping) and row.get("id") in ids
        )
        return wanted, len(rows)

    async def _listing(self, user_id: str, offset: int, limit: int) -> Sequence[Any]:
        """The raw rows of one page of ``GET /generations/user/{userId}``."""
        data = await self._get(
            f"/generations/user/{_seg(user_id)}", params={"offset": offset, "limit": limit}
        )
        return as_list(data.get("generations"))

    async def get_variation(self, variation_id: str) -> Variation | None:
        """A variation job (``GET /variations/{id}``), or ``None`` if unknown."""
        data = await self._get(f"/variations/{_seg(variation_id)}")
        return _first_variation(data.get("generated_image_variation_generic"))

    async def get_motion_variation(self, variation_id: str) -> Variation | None:
        """A video upscale job (``GET /motion-variations/{id}``), or ``None`` if unknown."""
        data = await self._get(f"/motion-variations/{_seg(variation_id)}")
        return _first_variation(data.get("generated_image_variation_motion"))

    async def delete_generation(self, generation_id: str) -> None:
        """Delete a generation; :class:`NotFoundError` if the API does not know it."""
        await self._delete(f"/generations/{_seg(generation_id)}", "delete_generations_by_pk")

    # -- init images -------------------------------------------------------------------------

    async def upload_init_image(self, data: bytes, extension: str) -> str:
        """Upload an image (png, jpg, jpeg, webp) in two steps; its init-image id.

        Step 1 asks ``/init-image`` for a presigned POST (``fields`` is a JSON string); step 2
        posts the fields and the file there *without* the API key (S3 refuses it: 403).
        """
        ext = extension.lower().lstrip(".")
        step_1, _ = await self._wire.call(
            "POST", "/init-image", idempotent=True, json={"extension": ext}
        )
        upload = as_map(step_1.get("uploadInitImage"))
        image_id, url = as_str(upload.get("id")), as_str(upload.get("url"))
        if not image_id or not url:
            raise ApiError("POST /init-image: the response has no id or url")
        fields = _upload_fields(upload.get("fields"))
        content_type = _UPLOAD_TYPES.get(ext, "application/octet-stream")
        files = {"file": (f"{image_id}.{ext}", data, content_type)}
        host = httpx.URL(url).host
        await self._wire.send(
            "POST", url, f"POST presigned upload ({host})", idempotent=True, auth=False,
            data=fields, files=files,
        )  # fmt: skip
        return image_id

    async def get_init_image(self, image_id: str) -> InitImage | None:
        """An uploaded init image, or ``None`` if unknown."""
        data = await self._get(f"/init-image/{_seg(image_id)}")
        obj = data.get("init_images_by_pk")
        return parse_init_image(obj) if isinstance(obj, Mapping) else None

    async def delete_init_image(self, image_id: str) -> None:
        """Delete an uploaded init image; :class:`NotFoundError` if the API does not know it."""
        await self._delete(f"/init-image/{_seg(image_id)}", "delete_init_images_by_pk")

    # -- pricing -----------------------------------------------------------------------------

    async def price(self, service: str, params: Mapping[str, Any]) -> int:
        """Credits the pricing calculator quotes for ``service`` with ``params`` (free, retried)."""
        body = {"service": service, "serviceParams": {service: dict(params)}}
        data, _ = await self._wire.call("POST", "/pricing-calculator", idempotent=True, json=body)
        result = as_map(data.get("calculateProductionApiServiceCost"))
        cost = as_int(result.get("cost"))
        if cost is None:
            raise PricingError(
                f"POST /pricing-calculator: no integral cost for {service}: {result.get('cost')!r}"
            )
        return cost

    async def _delete(self, path: str, key: str) -> None:
        data, tries = await self._wire.call("DELETE", path, idempotent=True)
        # after a retried DELETE, "not found" only means an earlier try already deleted it
        if not isinstance(data.get(key), Mapping) and tries == 1:
            raise NotFoundError(f"DELETE {path}: no such id", status=200)


def v2_root(base_url: str) -> str:
    """The API root the v2 paths hang from: the v1 base URL without its ``/v1``.

    ``https://cloud.leonardo.ai/api/rest/v1`` -> ``https://cloud.leonardo.ai/api/rest``, so
    ``/v2/generations`` lands on ``.../api/rest/v2/generations`` (api-v2-facts 1.1).
    """
    base = base_url.rstrip("/")
    if not base.endswith("/v1"):
        raise ApiError(
            f"cannot reach the v2 API from the base URL {base!r}: LEONARDO_API_BASE_URL must "
            "end in /v1 (e.g. https://cloud.leonardo.ai/api/rest/v1); v2 replaces that with /v2"
        )
    return base.removesuffix("/v1")


def _job_object(data: Any, spec: Endpoint) -> Mapping[str, Any] | None:
    """The job object of a create response: ``data[response_key]``; for v2 also the body
    itself when it carries a top-level ``generationId`` (a 3P summary of the create's answer,
    api-v2-facts 1.4: the official recipes read ``generate.generationId``)."""
    if not isinstance(data, Mapping):
        return None
    job = data.get(spec.response_key)
    if isinstance(job, Mapping):
        return job
    if spec.surface == "v2" and as_str(data.get(spec.job_id_field)):
        return data
    return None


def _seg(value: str) -> str:
    """``value`` as one path segment: ids are never allowed to add ``/`` or ``?``."""
    if not value or any(c in value for c in "/?#%") or value in {".", ".."}:
        raise ValueError(f"not an id: {value!r}")
    return value


def _first_variation(value: Any) -> Variation | None:
    items = as_list(value)
    if not items and isinstance(value, Mapping):
        items = [value]  # tolerate a future object-shaped answer
    return parse_variation(as_map(items[0])) if items else None


def _upload_fields(value: Any) -> dict[str, str]:
    """The presigned POST's fields: a JSON string by the API, tolerated as an object."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise ApiError("POST /init-image: fields is not JSON") from e
    return {str(k): str(v) for k, v in as_map(value).items()}
