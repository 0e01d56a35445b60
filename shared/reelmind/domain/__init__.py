"""Plain types and rules, free of I/O."""
