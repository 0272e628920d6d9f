"""What a person reads about a match (its reason and confidence) and, when few providers
pass, which one relaxation of the hard filters would add the most."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from matching.core.settings import RequestsSettings

if TYPE_CHECKING:
    from matching.requests.catalogue import Catalogue
    from matching.requests.ranking import Query, SkillFit

_SYMBOL = {"USD": "$", "EUR": "€", "GBP": "£"}
_RELAXABLE = {
    "session_type": "accept another session type than {session_type}",
    "budget": "budget up to {budget}",
    "capacity": "split the group into sessions of fewer than {participants}",
    "languages": "drop the language requirement",
    "availability": "widen your days or hours",
    "mandatory_skills": "make the mandatory skills optional",
}


def money(amount: float, currency: str) -> str:
    symbol = _SYMBOL.get(currency)
    whole = f"{amount:,.0f}"
    return f"{symbol}{whole}" if symbol else f"{whole} {currency}"


def confidence(score: float, min_score: float, complete: float) -> str:
    """High when the score clears the bar widely and the provider's data is nearly whole."""
    margin = score - min_score
    if margin >= 0.15 and complete >= 0.75:
        return "high"
    if margin >= 0.05 and complete >= 0.5:
        return "medium"
    return "low"


def explain(
    cat: Catalogue,
    q: Query,
    fit: SkillFit,
    factors: Mapping[str, np.ndarray],
    total: np.ndarray,
    row: int,
    settings: RequestsSettings,
) -> dict[str, Any]:
    """One match as ProviderMatch's fields."""
    provider = cat.providers[row]
    body = provider.body
    needs = q.request.skills_required
    matched = [s.name for j, s in enumerate(needs) if fit.best[j, row] > 0]
    missing = [s.name for j, s in enumerate(needs) if fit.best[j, row] <= 0]
    score = float(total[row])
    return {
        "provider_id": provider.provider_id,
        "name": body.name,
        "title": body.title,
        "hourly_rate": body.hourly_rate,
        "currency": body.currency,
        "match_score": round(score, 4),
        "factors": {k: round(float(v[row]), 4) for k, v in factors.items()},
        "matching_skills": matched,
        "missing_skills": missing,
        "confidence_level": confidence(score, settings.min_match_score, float(cat.complete[row])),
        "recommendation_reason": _reason(q, body, matched, float(factors["availability"][row])),
    }


def _reason(q: Query, body: Any, matched: list[str], overlap: float) -> str:
    parts = []
    if matched:
        parts.append("knows " + ", ".join(matched))
    elif body.title:
        parts.append(body.title)
    if body.rating_count:
        parts.append(f"rated {body.rating_average:.1f} from {body.rating_count} reviews")
    parts.append(f"free for {overlap:.0%} of your hours")
    budget = q.request.budget
    parts.append(
        f"{money(body.hourly_rate, body.currency)}/h within your "
        f"{money(budget.max_hourly_rate, budget.currency)} budget"
    )
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


def relaxations(
    cat: Catalogue,
    q: Query,
    fails: Mapping[str, np.ndarray],
    ratio: np.ndarray,
    rates: Mapping[str, float],  # noqa: ARG001 (the ratio already compares currencies)
) -> list[dict[str, Any]]:
    """Each relaxable filter that alone stands between providers and the request, with how
    many it would add; the one adding the most first."""
    out: list[dict[str, Any]] = []
    for name, template in _RELAXABLE.items():
        others = np.zeros(len(cat), dtype=bool)
        for other, failed in fails.items():
            if other != name:
                others |= failed
        unlocked = fails[name] & ~others
        adds = int(np.count_nonzero(unlocked))
        if adds == 0:
            continue
        text = template.format(**_values(q, name, ratio, unlocked))
        out.append({"filter": name, "adds": adds, "suggestion": f"{text} adds {adds} providers"})
    out.sort(key=lambda r: -r["adds"])
    return out[:3]


def _values(q: Query, name: str, ratio: np.ndarray, unlocked: np.ndarray) -> dict[str, str]:
    r = q.request
    values = {"session_type": r.session_type, "participants": str(r.participants_count)}
    if name == "budget":
        needed = float(np.max(ratio[unlocked])) * r.budget.max_hourly_rate
        values["budget"] = money(math.ceil(needed), r.budget.currency)
    return values
