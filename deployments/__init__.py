"""The Serve stages: each a plain class, wrapped as a deployment by serve_app.app."""
