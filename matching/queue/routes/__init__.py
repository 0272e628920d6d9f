"""The queue's HTTP and WebSocket routes."""
