"""End-to-end fixtures: the edge's pooled probe agents and the recorder (defined once, in tests/edge/conftest.py)."""

from tests.edge.conftest import agents, recorder

__all__ = ["agents", "recorder"]
