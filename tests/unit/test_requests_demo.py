"""The demo catalogue is deterministic, valid and varied."""

from __future__ import annotations

from matching.devtools.demo_requests import demo_providers


def test_the_same_catalogue_every_time() -> None:
    first, again = demo_providers(50), demo_providers(50)
    assert [(p.provider_id, p.body) for p in first] == [(p.provider_id, p.body) for p in again]
    assert demo_providers(60)[:50] == first  # a bigger catalogue starts with the smaller


def test_the_catalogue_is_varied() -> None:
    providers = demo_providers(300)
    zones = {s.timezone for p in providers for s in p.body.availability}
    assert len(zones) >= 6
    assert {p.body.currency for p in providers} == {"USD", "EUR", "GBP"}
    assert len({s.name for p in providers for s in p.body.skills}) >= 25
    assert len({p.provider_id for p in providers}) == 300
    assert all(p.body.availability and p.body.skills for p in providers)
