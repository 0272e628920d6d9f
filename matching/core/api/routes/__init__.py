"""HTTP routes of the shared resources (profiles, health, the model registry)."""
