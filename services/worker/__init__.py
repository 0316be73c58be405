"""The worker: executes scheduled blocks (tasks) and reports their results as commands."""
