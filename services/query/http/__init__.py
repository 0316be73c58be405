"""Litestar controllers, one module per resource."""
