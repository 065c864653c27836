"""Seeds past a model's maximum are refused by the emulator as the API refuses them."""

from __future__ import annotations

from typing import Any

import pytest

from leobatch.catalog import find_model
from tests.conftest import EmulatorHandle
from tests.emulator.support import client

FLUX_DEV = find_model("flux-dev")


@pytest.mark.parametrize(
    ("path", "body", "high"),
    [
        ("/generations", {}, 9_999_999_998),
        ("/generations", {"modelId": FLUX_DEV.id if FLUX_DEV else "", "contrast": 3.5},
         2_147_483_637),
        ("/generations-text-to-video", {"model": "MOTION2"}, 2_147_483_637),
        ("/generations-text-to-video", {"model": "VEO3", "resolution": "RESOLUTION_720"},
         4_294_967_293),
    ],
)  # fmt: skip
def test_seed_past_the_maximum_is_a_bad_request(
    emulator: EmulatorHandle, path: str, body: dict[str, Any], high: int
) -> None:
    """api-facts 4 and 8.1: the maximum is accepted, one more (or a negative seed) is a 400."""
    with client(emulator) as http:
        accepted = http.post(path, json={"prompt": "a mug", **body, "seed": high})
        refused = [
            http.post(path, json={"prompt": "a mug", **body, "seed": seed})
            for seed in (high + 1, -1)
        ]
    assert accepted.status_code == 200, accepted.text
    for response in refused:
        assert response.status_code == 400
        assert response.json() == {
            "error": f"seed must be between 0 and {high}",
            "path": "$",
            "code": "unexpected",
        }
