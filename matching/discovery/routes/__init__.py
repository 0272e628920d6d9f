"""HTTP routes of discovery, one module per resource."""
