"""The builder never raises: any JSON-ish stage gives a request or a list of problems."""
# ruff: noqa: E501  (strategy tables read best on one line)

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leobatch.api.wire import ENDPOINT_BY_KIND
from leobatch.request import BuiltRequest, FieldProblem, build_request

KINDS = sorted(ENDPOINT_BY_KIND)
KEYS = ["model", "prompt", "negative_prompt", "init_image", "image", "elements", "guidance",
        "context_images", "styles", "motion", "instructions", "params"]  # fmt: skip
WORDS = ["phoenix-1.0", "flux-kontext", "veo3", "Dolly In", "Clay", "Sparklecore", "upstream",
         "ref.png", "../x.png", "/etc/passwd", "style-reference", "CINEMATIC", "RESOLUTION_720"]  # fmt: skip
FIELDS = ["width", "height", "num_images", "alchemy", "contrast", "presetStyle", "resolution",
          "isVariation", "upscaleMultiplier", "ultraUpscaleStyle", "id", "negativePrompt", "seed"]  # fmt: skip

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5000), st.floats(allow_nan=True),
    st.sampled_from(WORDS), st.text(max_size=5),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["name", "type", "image", "weight", "akUUID", "x"]), inner, max_size=3
        ),
    ),
    max_leaves=6,
)
params = st.dictionaries(st.sampled_from(FIELDS), values, max_size=4)
stages = st.dictionaries(st.sampled_from(KEYS), values, max_size=5).flatmap(
    lambda d: st.one_of(st.just(d), params.map(lambda p: {**d, "params": p}))
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(KINDS),
    fields=stages,
    upstream=st.one_of(st.none(), st.sampled_from(KINDS)),
    size=st.one_of(st.none(), st.tuples(st.integers(1, 4096), st.integers(1, 4096))),
)
def test_never_raises(kind: str, fields: dict[str, Any], upstream: str | None,
                      size: tuple[int, int] | None) -> None:  # fmt: skip
    """Whatever the stage holds, the result is a request or problems with messages."""
    result = build_request(
        kind, fields, upstream_kind=upstream, upstream_size=size, recipe_dir=Path()
    )
    if isinstance(result, list):
        assert result and all(isinstance(p, FieldProblem) and p.message for p in result)
    else:
        assert isinstance(result, BuiltRequest) and result.endpoint == ENDPOINT_BY_KIND[kind].path
