"""One class per port per backend: `local` (the default) and `aws`."""
