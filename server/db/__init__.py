"""Database: models, engine/session factory, Alembic migrations."""

from server.db.engine import Database, make_engine
from server.db.migrate import upgrade
from server.db.models import AuditLog, Base, Blob, Command, Device, DeviceConfig, Event, Telemetry

__all__ = ["AuditLog", "Base", "Blob", "Command", "Database", "Device", "DeviceConfig", "Event", "Telemetry",
           "make_engine", "upgrade"]
