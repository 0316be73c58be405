"""The HTTP edge: reads from the read store; each write becomes a command on the bus."""
