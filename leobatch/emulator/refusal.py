"""The emulator's one way of saying no: a Hasura-style error envelope with a status."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

__all__ = ["Refusal", "envelope"]


def envelope(message: str, code: str = "unexpected", path: str = "$") -> dict[str, str]:
    """The error body every Leonardo REST error uses (api-facts section 2.1)."""
    return {"error": message, "path": path, "code": code}


class Refusal(Exception):
    """Raised by a handler to answer with an error envelope; never leaves the emulator."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "unexpected",
        *,
        path: str = "$",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.path = path
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        """The HTTP response for this refusal."""
        return JSONResponse(
            envelope(self.message, self.code, self.path), self.status, headers=self.headers
        )


def bad_request(message: str) -> Refusal:
    """A business-rule refusal from Leonardo's handlers: 400, code ``unexpected``."""
    return Refusal(400, message)
