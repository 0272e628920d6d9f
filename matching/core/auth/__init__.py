"""Who is calling (a verified token or an internal API key) and what they may do."""

from matching.core.auth.authenticator import Authenticator
from matching.core.auth.identity import Identity

__all__ = ["Authenticator", "Identity"]
