"""What a natural-language search prompt says beyond its meaning: places and radii."""

from __future__ import annotations

import re
from dataclasses import dataclass

NEAR_ME_KM = 50.0
# A radius from a prompt is clamped to these: half the Earth's circumference covers every
# place (SearchRequest.max_distance_km has the same maximum), and 100 m is the finest asked.
MIN_RADIUS_KM = 0.1
MAX_RADIUS_KM = 20_000.0
_KM_PER_MILE = 1.609344
_NEAR = re.compile(r"\b(near me|nearby|close to me|around me|in my area|near by)\b", re.I)
_WITHIN = re.compile(r"\bwithin\s+(\d+(?:\.\d+)?)\s*(km|kilometers?|kilometres?|mi|miles?)\b", re.I)


@dataclass(frozen=True, slots=True)
class PromptHints:
    """A radius the prompt asks for (km), if any."""

    radius_km: float | None
    near_me: bool


def parse_prompt(prompt: str) -> PromptHints:
    within = _WITHIN.search(prompt)
    if within:
        value, unit = float(within.group(1)), within.group(2).lower()
        km = value * _KM_PER_MILE if unit.startswith("mi") else value
        # "within 99999999999999999999 miles" parses (to inf past ~300 digits): clamp, not fail.
        return PromptHints(radius_km=min(max(km, MIN_RADIUS_KM), MAX_RADIUS_KM), near_me=True)
    if _NEAR.search(prompt):
        return PromptHints(radius_km=NEAR_ME_KM, near_me=True)
    return PromptHints(radius_km=None, near_me=False)


def normalise(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9+#]+", text.lower())) + " "


def mentioned(terms: frozenset[str], prompt_normalised: str) -> frozenset[str]:
    """The terms (interests, an industry) that the prompt names as whole words.

    A term also matches its simple plural/-ers/-ing forms' stem ("hikers" ~ "hiking").
    """
    found = set()
    for term in terms:
        key = normalise(term).strip()
        if not key:
            continue
        if f" {key} " in prompt_normalised or _stem(key) in _stems(prompt_normalised):
            found.add(term)
    return frozenset(found)


def _stem(word: str) -> str:
    for suffix in ("ing", "ers", "er", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _stems(prompt_normalised: str) -> set[str]:
    return {_stem(w) for w in prompt_normalised.split()}
