"""Read-only MQTT discovery for a compound's Home Assistant (optional, ``homeassistant.enabled``).

The server — not the devices — publishes, so Home Assistant needs no access to the linli tree and no device
account: a read-only broker account (``linli provision --homeassistant``) sees ``homeassistant/#`` (retained
discovery configs, per HA's conventions) and ``linli-ha/#`` (each device's availability and derived state). What
appears: every device's availability; the lift's blocking state and blocks; the gate's barrier openings (an
``event`` entity) and cars inside; each charger port's power, energy and state; the kiosk's screen.
"""
