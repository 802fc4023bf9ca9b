"""The lift guard's background part: training the sites' second-stage classifiers (``classifier.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .classifier import ClassifierTrainer

if TYPE_CHECKING:
    from server.app import Server


def make_worker(srv: Server) -> ClassifierTrainer:
    return ClassifierTrainer(srv.db, srv.snapshots)
