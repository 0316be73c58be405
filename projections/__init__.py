"""Read models: one module per read model (pure apply functions and its tables), the runner."""
