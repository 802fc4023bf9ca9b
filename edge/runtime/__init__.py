"""The agent process: config, MQTT link + SQLite outbox, commands, heartbeat, watchdog, local page.

Every device kind runs inside the same runtime; a kind only supplies an :class:`edge.apps.base.App`.
"""
