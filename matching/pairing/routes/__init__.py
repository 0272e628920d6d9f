"""HTTP routes of pairing."""
