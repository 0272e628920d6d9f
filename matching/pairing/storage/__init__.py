"""Pairing's tables (migration 0014), as plain parameterised SQL."""
