"""The write model: pure aggregates and rules. No I/O, no clock, no random source."""
