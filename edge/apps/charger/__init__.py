"""E-bike charging pile: port sessions, safety cut-offs, billing, journal and settlement."""
