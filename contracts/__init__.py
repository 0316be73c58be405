"""The one home of every shape that crosses a process: subjects, commands, events, replies."""
