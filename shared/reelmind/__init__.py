"""ReelMind: the AI back end of a short-video platform."""

__version__ = "0.1.0"
