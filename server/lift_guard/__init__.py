"""Server side of the lift guard: blocks per lift per day, staff (false-alarm) releases, faults, the snapshot gallery
(within the retention time) and the audited ``release`` command."""
