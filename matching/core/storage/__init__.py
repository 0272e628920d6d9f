"""PostgreSQL access: the one place that talks to asyncpg."""
