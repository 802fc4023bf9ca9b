"""linli (邻里): edge controllers for residential compounds. What both sides share lives here."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("linli")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+src"
