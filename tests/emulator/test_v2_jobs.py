"""v2 jobs in the one job store: v1 GET, listing, delete, webhooks, ids usable on both surfaces."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from PIL import Image

from tests.conftest import EmulatorHandle
from tests.emulator.support import (
    client,
    completed_image_id,
    create_v2,
    root_client,
    v2_done,
    v2_errors,
    wait_done,
)

Factory = Callable[..., EmulatorHandle]
NB_PRO = "gemini-image-2"


def _still(http: httpx.Client, **parameters: Any) -> dict[str, Any]:
    params = {"prompt": "a red kite", "width": 1024, "height": 1024, "quantity": 1, **parameters}
    done: dict[str, Any] = v2_done(http, create_v2(http, NB_PRO, params))
    assert done["status"] == "COMPLETE"
    return done


def test_v2_job_reads_lists_and_deletes_like_v1(emulator: EmulatorHandle) -> None:
    """v1 GET and the user listing show it (modelId null, no v2 model string); DELETE removes it."""
    with root_client(emulator) as http:
        params = {"prompt": "a red kite", "width": 848, "height": 1264, "quantity": 2, "seed": 7}
        gen_id = create_v2(http, NB_PRO, params)
        pending = http.get(f"/v1/generations/{gen_id}").json()["generations_by_pk"]
        assert (pending["status"], pending["generated_images"]) == ("PENDING", [])
        done = v2_done(http, gen_id)
        user = emulator.state.config.user_id
        (row,) = http.get(f"/v1/generations/user/{user}").json()["generations"]
        assert row == done
        assert (row["modelId"], row["prompt"], row["seed"]) == (None, "a red kite", 7)
        assert (row["imageWidth"], row["imageHeight"], row["status"]) == (848, 1264, "COMPLETE")
        assert row["createdAt"] and len(row["generated_images"]) == 2
        assert NB_PRO not in json.dumps(row)
        unseeded = v2_done(http, create_v2(http, NB_PRO, {"prompt": "no seed"}))
        assert unseeded["seed"] is None
        deleted = http.delete(f"/v1/generations/{gen_id}").json()
        assert deleted == {"delete_generations_by_pk": {"id": gen_id}}
        assert http.get(f"/v1/generations/{gen_id}").json() == {"generations_by_pk": None}
        listed = http.get(f"/v1/generations/user/{user}").json()["generations"]
        assert [g["id"] for g in listed] == [unseeded["id"]]


def test_v2_image_ids_work_on_v1_and_v2(emulator: EmulatorHandle) -> None:
    """A v2 still feeds v1 nobg and v1 image-to-video, and v2 remove-bg, upscaler and Kling 2.6;
    a v1 still feeds a v2 reference; outputs come at the right sizes."""
    with root_client(emulator) as http, client(emulator) as v1:
        still = _still(http)["generated_images"][0]["id"]
        nobg = v1.post("/variations/nobg", json={"id": still})
        assert nobg.status_code == 200, nobg.text
        i2v = {"prompt": "it flies", "imageId": still, "imageType": "GENERATED"}
        video = v1.post("/generations-image-to-video", json=i2v)
        assert video.status_code == 200, video.text
        ref = {"image_reference": [{"image": {"id": still, "type": "GENERATED"}}]}
        removed = v2_done(http, create_v2(http, "remove-bg", {"guidances": ref}))
        picture = Image.open(io.BytesIO(http.get(removed["generated_images"][0]["url"]).content))
        assert (picture.format, picture.mode, picture.size) == ("PNG", "RGBA", (1024, 1024))
        up = {"width": 1024, "height": 1024, "upscale_factor": 2, "upscale_mode": "clean",
              "guidances": ref}  # fmt: skip
        upscaled = v2_done(http, create_v2(http, "aurora-upscaler-precise", up))
        assert (upscaled["imageWidth"], upscaled["imageHeight"]) == (2048, 2048)
        start = {"start_frame": [{"image": {"id": still, "type": "GENERATED"}}]}
        kling = {"prompt": "it flies", "duration": 5, "width": 1920, "height": 1080,
                 "guidances": start}  # fmt: skip
        clip = v2_done(http, create_v2(http, "kling-2.6", kling))["generated_images"][0]
        assert http.get(clip["motionMP4URL"]).content[4:8] == b"ftyp"
        v1_still = completed_image_id(v1, width=512, height=512)
        v1_ref = {"image_reference": [{"image": {"id": v1_still, "type": "GENERATED"}}]}
        mixed = _still(http, guidances=v1_ref, width=0, height=0)
        assert (mixed["imageWidth"], mixed["imageHeight"]) == (512, 512)  # 0x0: match it


def test_video_reference_needs_a_video(emulator: EmulatorHandle) -> None:
    """video_reference_base takes a v2 video's item id; a still's id there is refused."""
    with root_client(emulator) as http:
        still = _still(http)["generated_images"][0]["id"]
        frame = {"start_frame": [{"image": {"id": still, "type": "GENERATED"}}]}
        clip_params = {"prompt": "sea", "duration": 5, "width": 1920, "height": 1080,
                       "guidances": frame}  # fmt: skip
        clip = v2_done(http, create_v2(http, "kling-video-o-1", clip_params))
        video_id = clip["generated_images"][0]["id"]
        base = [{"video": {"id": video_id, "type": "GENERATED"}}]
        edit = {"prompt": "make it night", "guidances": {"video_reference_base": base}}
        assert v2_done(http, create_v2(http, "kling-video-o-1", edit))["status"] == "COMPLETE"
        wrong = {"prompt": "make it night", "guidances": {
            "video_reference_base": [{"video": {"id": still, "type": "GENERATED"}}]}}  # fmt: skip
        refused = http.post("/v2/generations", json={"model": "kling-video-o-1",
                                                      "parameters": wrong})  # fmt: skip
        assert refused.status_code == 400
        assert v2_errors(refused) == [
            "parameters.guidances.video_reference_base.0.video.id: couldn't access video"
        ]


def test_v2_errors_as_200(make_emulator: Factory) -> None:
    """Configured so, a refused create answers HTTP 200 with the same GraphQL array."""
    emulator = make_emulator(v2_errors_as_200=True)
    with root_client(emulator) as http:
        refused = http.post("/v2/generations", json={"model": "no-such-model", "parameters": {}})
    assert refused.status_code == 200
    (error,) = refused.json()
    assert error["message"].startswith("model: no-such-model is not supported")
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["extensions"]["statusCode"] == error["extensions"]["details"]["statusCode"] == 400
    assert emulator.stats()["jobs_created"] == 0


def test_v2_webhook(make_emulator: Factory) -> None:
    """A completed v2 job is announced with the v1 envelope, its prompt and images."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict[str, Any]] = []
    arrived = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()
            arrived.set()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        emulator = make_emulator(webhook_url=f"http://127.0.0.1:{server.server_port}/hook")
        with root_client(emulator) as http:
            done = _still(http, quantity=2)
        assert arrived.wait(10)
    finally:
        server.shutdown()
        server.server_close()
    (hook,) = received
    row = hook["data"]["object"]
    assert (hook["type"], row["id"], row["modelId"]) == ("image_generation.complete", done["id"],
                                                          None)  # fmt: skip
    assert row["prompt"] == "a red kite" and len(row["images"]) == 2
    assert (row["inferenceSteps"], row["scheduler"], row["coreModel"]) == (None, None, None)


def test_v2_billing_in_both_units(make_emulator: Factory) -> None:
    """Published prices charge as published (GPT Image 1.5 formula, Kling 2.6, remove-bg), in
    credits and in dollars; the emulator table charges the rest; equal classes cost the same."""
    gpt = {"prompt": "a", "width": 1024, "height": 1024, "quantity": 1, "quality": "HIGH"}
    for billing, unit, gpt_amount, bg_amount in (
        ("credits", "CREDITS", "137", "70"), ("dollars", "DOLLARS", "0.2055", "0.1047"),
    ):  # fmt: skip
        emulator = make_emulator(billing=billing)
        with root_client(emulator) as http:
            created = http.post("/v2/generations", json={"model": "gpt-image-1.5",
                                                         "parameters": gpt}).json()  # fmt: skip
            assert created["generate"]["cost"] == {"amount": gpt_amount, "unit": unit}
            assert created["generate"]["apiCreditCost"] == (137 if unit == "CREDITS" else None)
            still = _still(http)["generated_images"][0]["id"]
            ref = {"image_reference": [{"image": {"id": still, "type": "GENERATED"}}]}
            body = {"model": "remove-bg", "parameters": {"guidances": ref}}
            bg = http.post("/v2/generations", json=body).json()["generate"]["cost"]
            assert bg == {"amount": bg_amount, "unit": unit}
            twice = [http.post("/v2/generations", json={"model": NB_PRO, "parameters": {
                "prompt": p, "seed": i}}).json()["generate"]["cost"]
                for i, p in enumerate(("one", "two"))]  # fmt: skip
            assert twice[0] == twice[1] and Decimal(twice[0]["amount"]) > 0
        stats = emulator.stats()
        assert stats["billing"] == billing and stats["jobs_created"] == 5
        other = "DOLLARS" if unit == "CREDITS" else "CREDITS"
        assert Decimal(stats["charged"][unit]) > 0 and stats["charged"][other] in (0, "0.0000")


def test_insufficient_balance_on_v2(make_emulator: Factory) -> None:
    """A v2 create the balance cannot pay is refused with the real words, nothing created."""
    emulator = make_emulator(credits=10)
    with root_client(emulator) as http:
        body = {"model": "kling-2.6", "parameters": {"prompt": "x", "duration": 5}}
        refused = http.post("/v2/generations", json=body)
    assert refused.status_code == 400
    (message,) = v2_errors(refused)
    assert message.startswith("not enough api tokens")
    assert (emulator.stats()["jobs_created"], emulator.state.balance) == (0, 10)


def test_v1_poll_of_a_failed_v2_job_refunds(make_emulator: Factory) -> None:
    """FAILED v2 jobs are refunded in the account's unit."""
    emulator = make_emulator(fail_rate=1.0, billing="dollars")
    with root_client(emulator) as http, client(emulator) as v1:
        gen_id = create_v2(http, NB_PRO, {"prompt": "x"})
        row = wait_done(v1, f"/generations/{gen_id}", "generations_by_pk")
    assert row["status"] == "FAILED"
    stats = emulator.stats()
    assert stats["net"]["DOLLARS"] == "0.0000" and stats["refunded"]["DOLLARS"] != "0.0000"
