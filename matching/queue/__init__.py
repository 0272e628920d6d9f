"""The real-time queue: tickets, a matcher, two-sided confirmation, sessions, WebSockets."""
