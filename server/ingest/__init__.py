"""MQTT ingest: broker link, batching writer, per-kind handler registry, stats."""

from server.ingest.link import MqttLink
from server.ingest.registry import HandlerRegistry, IngestContext
from server.ingest.service import Ingest
from server.ingest.stats import REJECT_REASONS, IngestStats
from server.ingest.store import Incoming, Parsed, Rejected, parse

__all__ = ["REJECT_REASONS", "HandlerRegistry", "Incoming", "Ingest", "IngestContext", "IngestStats", "MqttLink",
           "Parsed", "Rejected", "parse"]
