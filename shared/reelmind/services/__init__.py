"""Use cases. They talk to ports and domain types only."""
