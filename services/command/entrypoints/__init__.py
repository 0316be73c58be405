"""Thin edges of the command service: NATS request/reply handlers."""
