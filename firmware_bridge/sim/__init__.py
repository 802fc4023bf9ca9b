"""Device simulators on the far end of a pty: what the agent opens is a real serial device path."""
