"""Drift: what jobs were charged against what the plan estimated, per model and price class.

Only charged jobs count (a refunded FAILED attempt charged nothing). Per (model, price class,
unit): the jobs, the estimate and the charges of the jobs whose estimate is known, the drift in
units and in percent of the estimate; jobs charged without an estimate are counted apart and
shown as "unknown", never as an estimate of 0. When charges differ from the estimate by more than
5%, :attr:`DriftRow.stale` names the figure the estimate came from (the offline rate card when
the estimate equals it, else the pricing calculator's cached quote for a calculator service, the
published rate, or the price book) and by how much it is off per job.

The price class is computed from each job's journaled request (so ``status --dir`` works
without the recipe): the same key the pricing module groups a plan by.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from leobatch.pricing.classes import PriceRequest, credits, price_body
from leobatch.run.journal import JobState

__all__ = ["STALE_PCT", "Charge", "DriftRow", "charges_of", "drift_of", "drift_rows"]

#: Drift beyond this (in percent of the estimate) says which figure is stale.
STALE_PCT = 5.0
_V2_PATH = "/v2/generations"


@dataclass(frozen=True, slots=True)
class DriftRow:
    """Estimated vs charged for one model and price class, in one unit."""

    model: str | None
    price_class: str
    label: str
    unit: str  # "CREDITS" | "DOLLARS"
    jobs: int
    unknown_estimates: int
    estimated: Decimal  # of the jobs with an estimate
    charged: Decimal  # of the jobs with an estimate
    charged_unestimated: Decimal  # of the jobs without one
    stale: str | None

    @property
    def drift(self) -> Decimal | None:
        """Charged minus estimated (``None`` when no charged job had an estimate)."""
        return None if self.jobs == self.unknown_estimates else self.charged - self.estimated

    @property
    def drift_pct(self) -> float | None:
        """The drift in percent of the estimate (``None`` when there is none to compare)."""
        drift = self.drift
        if drift is None or self.estimated == 0:
            return None
        return float(drift / self.estimated * 100)

    def to_json(self) -> dict[str, Any]:
        """As ``status --json`` prints it (amounts as numbers; "unknown" estimates as null)."""
        known = self.jobs > self.unknown_estimates
        return {
            "model": self.model,
            "price_class": self.price_class,
            "label": self.label,
            "unit": self.unit,
            "jobs": self.jobs,
            "unknown_estimates": self.unknown_estimates,
            "estimated": _num(self.estimated) if known else None,
            "charged": _num(self.charged + self.charged_unestimated),
            "drift": _num(self.drift) if self.drift is not None else None,
            "drift_pct": round(self.drift_pct, 2) if self.drift_pct is not None else None,
            "stale": self.stale,
        }


def _num(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _request(kind: str, body: Mapping[str, Any]) -> PriceRequest | None:
    v2 = "parameters" in body and "model" in body
    try:
        return price_body(_V2_PATH if v2 else kind, body)
    except (KeyError, TypeError, ValueError):  # an odd old body: priced by kind below
        return None


def _label(request: PriceRequest | None, kind: str) -> str:
    """A short readable name of a price class."""
    if request is None:
        return f"{kind}"
    if request.fixed_kind is not None:
        return request.fixed_kind
    params = request.params or {}
    head = request.service or str(params.get("model", kind))
    shown = [
        f"{k}={v}" for k, v in sorted(params.items()) if k != "model" and v not in (None, False)
    ]
    text = " ".join([head, *shown])
    return text if len(text) <= 72 else text[:71] + "…"


@dataclass(frozen=True, slots=True)
class Charge:
    """One charged job, as drift needs it (from the journal, or from a manifest's entry)."""

    kind: str
    model: str | None
    request: Mapping[str, Any]
    unit: str  # "CREDITS" | "DOLLARS"
    estimated: Decimal | None
    charged: Decimal


def charges_of(states: Iterable[JobState]) -> Iterator[Charge]:
    """The charged jobs of a journal (a refunded attempt charged nothing)."""
    for state in states:
        if state.credits_charged is not None:
            estimate = None if state.credits_estimated is None else Decimal(state.credits_estimated)
            yield Charge(
                state.kind,
                state.model,
                state.request or {},
                "CREDITS",
                estimate,
                Decimal(state.credits_charged),
            )
        elif state.usd_charged is not None:
            yield Charge(
                state.kind,
                state.model,
                state.request or {},
                "DOLLARS",
                state.usd_estimated,
                state.usd_charged,
            )


def drift_rows(states: Iterable[JobState]) -> tuple[DriftRow, ...]:
    """The drift of every charged job of a journal, by model, price class and unit."""
    return drift_of(charges_of(states))


def drift_of(charges: Iterable[Charge]) -> tuple[DriftRow, ...]:
    """The drift of ``charges``, grouped by model, price class and unit."""
    groups: dict[tuple[str | None, str, str], list[tuple[Decimal | None, Decimal]]] = {}
    requests: dict[str, tuple[PriceRequest | None, str]] = {}
    for charge in charges:
        request = _request(charge.kind, charge.request)
        key = request.class_key if request is not None else f"kind:{charge.kind}"
        requests.setdefault(key, (request, charge.kind))
        groups.setdefault((charge.model, key, charge.unit), []).append(
            (charge.estimated, charge.charged)
        )
    rows = []
    for (model, key, unit), members in groups.items():
        request, kind = requests[key]
        known = [(e, c) for e, c in members if e is not None]
        estimated = sum((e for e, _ in known), Decimal(0))
        charged = sum((c for _, c in known), Decimal(0))
        unestimated = sum((c for e, c in members if e is None), Decimal(0))
        stale = _stale(request, unit, len(known), estimated, charged)
        rows.append(
            DriftRow(
                model,
                key,
                _label(request, kind),
                unit,
                len(members),
                len(members) - len(known),
                estimated,
                charged,
                unestimated,
                stale,
            )
        )
    return tuple(rows)


def _stale(
    request: PriceRequest | None, unit: str, jobs: int, estimated: Decimal, charged: Decimal
) -> str | None:
    """Which figure the estimate came from, when charges differ from it by more than 5%."""
    if not jobs or estimated == 0 or abs(charged - estimated) / estimated * 100 <= STALE_PCT:
        return None
    per_job_est, per_job_charged = estimated / jobs, charged / jobs
    card = credits(request) if request is not None and unit == "CREDITS" else None
    if card is not None and Decimal(card) == per_job_est and request is not None:
        figure = "the rate card (leobatch's offline prices)"
        if request.service is not None:
            figure = "the pricing calculator's quote and the rate card (they agree)"
    elif request is not None and request.service is not None:
        figure = "the pricing calculator's quote (cached up to a day; plan --refresh-prices)"
    elif request is not None and request.fixed_kind is not None:
        figure = "the rate card's fixed price"
    else:
        figure = "the published rate or learned price"
    pct = float((charged - estimated) / estimated * 100)

    def fmt(value: Decimal) -> str:
        return f"{value:,.1f}" if unit == "CREDITS" else f"USD {value:,.4f}"

    return (
        f"{figure} is stale: it says {fmt(per_job_est)} per job, charges average "
        f"{fmt(per_job_charged)} ({pct:+.1f}%)"
    )
