"""Serial protocols spoken with meters and charging-pile MCUs, and simulators of those devices (sim/)."""
