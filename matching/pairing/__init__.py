"""Batch pairing: pools, the cycle runner under a fenced lease, audit and reconciliation."""
