"""The queue's demo for `matching up`: no seeded tickets (a ticket waits a minute at most),
but two users' tokens and the commands that take them through a match, printed with the
banner."""

from __future__ import annotations

import uuid

from matching.core.auth.tokens import mint_token
from matching.core.settings import Settings

_CRITERIA = '{"criteria": {"difficulty": "medium", "topic": "graphs"}}'


def walkthrough(url: str, settings: Settings) -> list[str]:
    """Lines to print: tokens for Ada and Ben, then the walkthrough (docs/queue.md)."""
    if settings.auth.disabled or settings.auth.access_secret is None:
        return ["  queue     see docs/queue.md (needs AUTH_ACCESS_SECRET for user tokens)"]
    ada, ben = uuid.uuid4(), uuid.uuid4()
    tokens = [mint_token(settings.auth, user, ttl_s=24 * 3600) for user in (ada, ben)]
    ws = url.replace("http", "ws", 1)
    post = f"curl -X POST {url}/v1/queue"
    json_h = "-H 'content-type: application/json'"
    return [
        f"  queue     export ADA={tokens[0]} BEN={tokens[1]}  (two demo users, 24 h)",
        f'            python -m websockets "{ws}/v1/queue/ws?token=$ADA"   # her events',
        f"            {post}/requests -H \"Authorization: Bearer $ADA\" {json_h} -d '{_CRITERIA}'",
        f"            {post}/requests -H \"Authorization: Bearer $BEN\" {json_h} -d '{_CRITERIA}'",
        "            (match_found names the match_id; each confirms it:)",
        f'            {post}/confirm -H "Authorization: Bearer $ADA" {json_h} '
        '-d \'{"match_id": "<id>", "confirmed": true}\'',
    ]
