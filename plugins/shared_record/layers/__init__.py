"""One module per layer: read both sides for a run's window, plan (pure), apply through the write path."""
