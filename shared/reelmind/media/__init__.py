"""Media I/O with PyAV and OpenCV: probe, one-pass scan (shots, keyframes, audio), image encoding."""
