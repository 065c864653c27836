"""Provenance inside every output file: what made it, readable by the tools people already use.

Each output carries the recipe, stage, job key, model, prompt, negative prompt, seed, matrix
values and credits of the job that made it (issue 11, item 3):

- PNG: a ``parameters`` text chunk in the AUTOMATIC1111 style (``PROMPT``, then
  ``Negative prompt: NEG``, then one ``Key: value, ...`` line), which prompt viewers and image
  browsers show, plus an ``iTXt`` ``XML:com.adobe.xmp`` chunk holding the XMP packet;
- JPEG and WebP: the XMP packet (an APP1 segment, an ``XMP `` chunk);
- MP4: container tags (``title`` = prompt, ``comment`` = the A1111 text, ``description`` = the
  provenance as JSON), by a stream-copy remux.

Pixels are never re-encoded: chunks and segments are spliced into the bytes as served
(:mod:`leobatch.run._splice`). The XMP uses a namespace of its own (:data:`NAMESPACE`) beside
Dublin Core's ``dc:description`` (the prompt) and ``xmp:CreatorTool``.

The values come from the plan (a downstream job, a background removal say, has no prompt of its
own: it carries the prompt, model, negative prompt and seed of the job it descends from) and the
journal (credits). Nothing secret is in a job; still, any text holding the API key's value is
redacted (belt and braces, like the journal's refusal).
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from leobatch._version import __version__
from leobatch.plan.jobs import Job
from leobatch.run.journal_records import API_KEY_ENV

__all__ = ["NAMESPACE", "Provenance", "embed_image", "embed_video", "parameters_text", "xmp"]

#: The XMP namespace of leobatch's own properties.
NAMESPACE = "https://leobatch.dev/ns/provenance/1.0/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DC = "http://purl.org/dc/elements/1.1/"
_XMP = "http://ns.adobe.com/xap/1.0/"
_X = "adobe:ns:meta/"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_PREFIXES = {"x": _X, "rdf": _RDF, "dc": _DC, "xmp": _XMP, "leobatch": NAMESPACE}
for _prefix, _uri in _PREFIXES.items():
    ET.register_namespace(_prefix, _uri)

#: Characters XML 1.0 cannot carry at all (escaping does not help): dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
#: The XMP packet must fit a JPEG APP1 segment (65,533 bytes less the namespace header).
XMP_MAX_BYTES = 65_000


@dataclass(frozen=True, slots=True)
class Provenance:
    """What made one output file. ``prompt``, ``model``, ``negative_prompt``, ``seed`` and
    ``steps`` are the job's own or, for a job without them (a variation), those of the job it
    descends from; ``upstream`` is the key of the job whose output it consumed."""

    recipe: str
    recipe_sha256: str
    stage: str
    kind: str
    job_key: str
    index: int
    model: str | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    matrix: Mapping[str, Any] = field(default_factory=dict)
    credits_charged: int | None = None
    credits_estimated: int | None = None
    upstream: str | None = None

    @classmethod
    def of(
        cls,
        job: Job,
        index: int,
        *,
        jobs: Mapping[str, Job],
        recipe: str,
        recipe_sha256: str,
        credits_charged: int | None = None,
        credits_estimated: int | None = None,
    ) -> Provenance:
        """The provenance of output ``index`` of ``job``; ``jobs`` (by key) holds its upstream
        jobs, whose prompt, model and seed a job without its own inherits."""
        source: Job | None = job
        while source is not None and source.prompt is None and source.upstream is not None:
            source = jobs.get(source.upstream.key)
        origin = source if source is not None and source.prompt is not None else job
        model = job.model
        walk: Job | None = job
        while model is None and walk is not None and walk.upstream is not None:
            walk = jobs.get(walk.upstream.key)
            model = walk.model if walk is not None else None
        return cls(
            recipe=recipe,
            recipe_sha256=recipe_sha256,
            stage=job.stage,
            kind=job.kind,
            job_key=job.key,
            index=index,
            model=model,
            prompt=origin.prompt,
            negative_prompt=_text_field(origin.body, "negative_prompt"),
            seed=_int_field(origin.body, "seed"),
            steps=_int_field(origin.body, "num_inference_steps", "steps"),
            matrix=dict(job.matrix),
            credits_charged=credits_charged,
            credits_estimated=credits_estimated,
            upstream=job.upstream.key if job.upstream is not None else None,
        )

    def as_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (``None`` fields left out)."""
        values: dict[str, Any] = {
            "recipe": self.recipe,
            "recipe_sha256": self.recipe_sha256,
            "stage": self.stage,
            "kind": self.kind,
            "job": self.job_key,
            "index": self.index,
            "model": self.model,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
            "steps": self.steps,
            "matrix": dict(self.matrix),
            "credits_charged": self.credits_charged,
            "credits_estimated": self.credits_estimated,
            "upstream": self.upstream,
            "leobatch_version": __version__,
        }
        return {k: v for k, v in values.items() if v is not None}


def parameters_text(p: Provenance, size: tuple[int, int] | None = None) -> str:
    """The AUTOMATIC1111 ``parameters`` text: the prompt, ``Negative prompt: ...``, then one
    line of ``Key: value`` pairs (what A1111 and the tools that read its PNGs parse)."""
    lines = [_one_block(p.prompt or "")]
    if p.negative_prompt:
        lines.append(f"Negative prompt: {_one_line(p.negative_prompt)}")
    pairs: list[tuple[str, object]] = []
    if p.steps is not None:
        pairs.append(("Steps", p.steps))
    if p.seed is not None:
        pairs.append(("Seed", p.seed))
    if size is not None:
        pairs.append(("Size", f"{size[0]}x{size[1]}"))
    if p.model is not None:
        pairs.append(("Model", p.model))
    pairs += [("leobatch job", p.job_key), ("leobatch stage", p.stage)]
    pairs.append(("leobatch recipe", p.recipe))
    lines.append(", ".join(f"{k}: {_a1111_value(str(v))}" for k, v in pairs))
    return _redact("\n".join(lines))


def xmp(p: Provenance) -> bytes:
    """The XMP packet (UTF-8) of ``p``: leobatch's properties, ``dc:description`` = prompt.

    Built with ElementTree, so prompts holding ``<``, ``&`` or quotes are escaped, never markup;
    characters XML cannot carry are dropped. Fields are shortened, if need be, to fit
    :data:`XMP_MAX_BYTES` (a JPEG segment's limit).
    """
    limit = 1 << 20
    while True:
        packet = _packet(p, limit)
        if len(packet) <= XMP_MAX_BYTES or limit < 64:
            return packet
        limit //= 2


def _packet(p: Provenance, limit: int) -> bytes:
    root = ET.Element(f"{{{_X}}}xmpmeta")
    rdf = ET.SubElement(root, f"{{{_RDF}}}RDF")
    desc = ET.SubElement(rdf, f"{{{_RDF}}}Description", {f"{{{_RDF}}}about": ""})
    ET.SubElement(desc, f"{{{_XMP}}}CreatorTool").text = f"leobatch {__version__}"
    if p.prompt is not None:
        alt = ET.SubElement(ET.SubElement(desc, f"{{{_DC}}}description"), f"{{{_RDF}}}Alt")
        li = ET.SubElement(alt, f"{{{_RDF}}}li", {_XML_LANG: "x-default"})
        li.text = _xml_text(p.prompt, limit)
    values = p.as_dict()
    values["matrix"] = json.dumps(values["matrix"], ensure_ascii=False, sort_keys=True, default=str)
    for name, value in values.items():
        ET.SubElement(desc, f"{{{NAMESPACE}}}{_camel(name)}").text = _xml_text(str(value), limit)
    body = ET.tostring(root, encoding="unicode")
    return (
        f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{body}\n<?xpacket end="w"?>'
    ).encode()


def embed_image(data: bytes, p: Provenance) -> bytes | None:
    """``data`` (a PNG, JPEG or WebP, as served) with ``p`` inside, pixels untouched; ``None``
    for another format, or one whose structure the splice does not recognise."""
    from leobatch.run import _splice

    if data.startswith(_splice.PNG_SIGNATURE):
        return _splice.png(data, parameters_text(p, _splice.png_size(data)), xmp(p))
    if data.startswith(b"\xff\xd8"):
        return _splice.jpeg(data, xmp(p))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _splice.webp(data, xmp(p))
    return None


def embed_video(source: IO[bytes], target: IO[bytes], p: Provenance) -> None:
    """Copy the MP4 ``source`` into ``target`` stream by stream (no re-encoding), tagged with
    ``title`` (the prompt), ``comment`` (the A1111 text) and ``description`` (JSON)."""
    from leobatch.run import _splice

    tags = {
        "title": _redact(_one_line(p.prompt or "")),
        "comment": parameters_text(p),
        "description": _redact(json.dumps(p.as_dict(), ensure_ascii=False, default=str)),
    }
    _splice.mp4(source, target, {k: v for k, v in tags.items() if v})


def _text_field(body: Mapping[str, Any], name: str) -> str | None:
    for where in (body, body.get("parameters")):
        if isinstance(where, Mapping) and isinstance(where.get(name), str):
            return str(where[name])
    return None


def _int_field(body: Mapping[str, Any], *names: str) -> int | None:
    for where in (body, body.get("parameters")):
        if not isinstance(where, Mapping):
            continue
        for name in names:
            value = where.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _xml_text(text: str, limit: int) -> str:
    text = _redact(_NOT_XML.sub("", text))
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "\u2026"


def _one_block(text: str) -> str:
    """The prompt as A1111 text: no NULs, and no line a reader would take for another field."""
    lines = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # A reader takes a line starting "Negative prompt:" for the negative prompt: indent it.
    return "\n".join(" " + ln if ln.startswith("Negative prompt:") else ln for ln in lines)


def _one_line(text: str) -> str:
    return " ".join(text.replace("\x00", "").split("\n"))


def _a1111_value(value: str) -> str:
    """A value in the ``Key: value, ...`` line: quoted (JSON-style) when it holds a comma, a
    colon or a quote, as A1111 itself writes such values."""
    value = _one_line(value)
    return json.dumps(value, ensure_ascii=False) if re.search(r'[,:"]', value) else value


def _redact(text: str) -> str:
    secret = os.environ.get(API_KEY_ENV, "")
    return text.replace(secret, "[redacted]") if len(secret) >= 8 else text
