"""Test infrastructure: real NATS and PostgreSQL, and the real processes."""
