"""Fuzzing ``POST /v2/generations``: whatever the body, an answer, never a server error."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leobatch import catalog
from leobatch.catalog import v2
from tests.conftest import EmulatorHandle
from tests.emulator.support import root_client

MODELS = {m.id: m for m in catalog.v2_models()}
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
    | st.sampled_from(["GENERATED", "UPLOADED", "URL", "BASE64", "MID"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "type", "image", "video", "url", "data", "strength", "width"]),
        inner, max_size=3),
    max_leaves=12,
)  # fmt: skip


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    """Mostly well-formed envelopes with mutated example parameters; sometimes anything."""
    if draw(st.integers(0, 9)) == 0:
        return draw(_json)
    model_id = draw(st.sampled_from(sorted(MODELS)))
    model = MODELS[model_id]
    parameters: dict[str, Any] = v2.example_parameters(model)
    names = [*v2.parameter_names(model), "guidances", "start_frame", "bogus"]
    for name in draw(st.lists(st.sampled_from(names), max_size=3)):
        parameters[name] = draw(_json)
    body: dict[str, Any] = {"model": model_id, "parameters": parameters}
    if draw(st.booleans()):
        body["public"] = draw(_json)
    return body


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(body=bodies())
def test_no_server_error(emulator: EmulatorHandle, body: Any) -> None:
    """Every answer is a 200 (a job) or a refusal (400/403), never a 5xx."""
    with root_client(emulator) as http:
        answer = http.post("/v2/generations", json=body)
    assert answer.status_code in (200, 400, 403), (body, answer.text)
    if answer.status_code != 200:
        assert isinstance(answer.json(), list)
