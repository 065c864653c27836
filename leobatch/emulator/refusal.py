"""The emulator's one way of saying no: a Hasura-style error envelope with a status.

v1 answers (and the gateway's auth, rate-limit and 5xx answers on every surface) use the flat
``{"error", "path", "code"}`` object. A refused v2 create answers with the GraphQL error array
(api-v2-facts 1.8): one entry per problem, each
``{"message", "path", "extensions": {"code", "statusCode", "details": {"message", "statusCode"}}}``
(``extensions.statusCode`` as the remove-bg page reads it, ``details`` as the v1 blueprint
examples and 3P v2 code read it; which of the two the real v2 errors carry is unconfirmed, so
both are sent). The HTTP status is the error's own (400, 403) or 200 when the emulator is told
to answer like the real API sometimes does (``EmulatorConfig.v2_errors_as_200``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import JSONResponse

__all__ = ["GraphQLRefusal", "Refusal", "envelope", "graphql_errors"]

_CODES = {400: "BAD_REQUEST", 403: "FORBIDDEN", 404: "NOT_FOUND"}


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


def graphql_errors(problems: Sequence[tuple[str, str]], status: int) -> list[dict[str, Any]]:
    """The GraphQL error array for ``(path, message)`` problems (``path`` dotted, may be "")."""
    code = _CODES.get(status, "BAD_REQUEST")
    errors = []
    for path, message in problems:
        text = f"{path}: {message}" if path else message
        extensions = {"code": code, "statusCode": status,
                      "details": {"message": text, "statusCode": status}}  # fmt: skip
        errors.append({"message": text, "path": path.split(".") if path else [],
                       "extensions": extensions})  # fmt: skip
    return errors


class GraphQLRefusal(Refusal):
    """A refused v2 create: every problem found, answered as the GraphQL error array."""

    def __init__(self, status: int, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__(status, "; ".join(f"{p}: {m}" if p else m for p, m in problems))
        self.problems = tuple(problems)

    def graphql_response(self, as_200: bool) -> JSONResponse:
        """The array, with the error's status or 200."""
        body = graphql_errors(self.problems, self.status)
        return JSONResponse(body, 200 if as_200 else self.status, headers=self.headers)
