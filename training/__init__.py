"""Offline jobs: one module per stage."""
