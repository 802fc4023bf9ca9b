"""linli server: MQTT ingest, device registry, REST API, pages, commands, retention (``linli server``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("linli")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
