"""Flowledger's processes: command, worker, query (and the projector, in `projections`)."""
