"""Internal API keys: the platform's own services, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


def key_id(key: str) -> str:
    """A short, stable name for a key (logs, rate limits) that does not reveal it."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


class ApiKeys:
    """The accepted keys (several while one rotates); `match` returns the key's id or None."""

    def __init__(self, keys: Sequence[str]) -> None:
        # Digests have one length, so comparing them leaks neither a key's length nor prefix.
        self._digests = [(hashlib.sha256(k.encode()).digest(), key_id(k)) for k in keys]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def match(self, presented: str) -> str | None:
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for known, kid in self._digests:  # every key is compared: no early exit to time
            if hmac.compare_digest(digest, known):
                found = kid
        return found
