"""The ``lift_guard`` kind: a camera in a lift car holds the door open while an e-bike or its battery is inside
(Shanghai, in force 2024-06-01), with voice warning, evidence snapshots, remote release and fail-safe guards."""
