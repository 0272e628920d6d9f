"""The queue's live state (Redis, arbitrated by Lua scripts) and its history (PostgreSQL)."""
