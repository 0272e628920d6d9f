"""Request matching's HTTP routes."""
