"""I/O of the command service: the event store, the outbox relay, the timer consumer."""
