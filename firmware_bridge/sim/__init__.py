"""Device simulators on the far end of a pty: what the agent opens is a real serial device path.

- ``pty``: :class:`PtyPair` and the :class:`PtyResponder` thread every simulator builds on.
- ``pile_sim``: :class:`PileSim`, a charging-pile MCU speaking ``firmware_bridge/pile/PROTOCOL.md``.
- ``loads``: what is plugged into an outlet (3-stage bike chargers, phone, overload...).
- ``dlt645_meter``: :class:`Dlt645MeterSim`, a DL/T 645-2007 meter.
- ``modbus_meter``: :class:`ModbusMeterSim`, pymodbus's serial server built from a register map.
- ``meters``: the values a meter sim reports (fixed, or a pile's ``meter_values``), with counter faults.
- ``clock``: :class:`SimClock`, simulated time with a ``speed`` factor, shared by a pile and its meter.

Import from the modules (``from firmware_bridge.sim.pile_sim import PileSim``): only the Modbus meter
needs pymodbus.
"""
