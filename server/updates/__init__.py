"""Signed software releases and staged roll-outs to the fleet (issue: from demo to a real site).

- ``models.py``: releases, roll-outs, each device's progress in a roll-out;
- ``planner.py``: the staging rules as pure code (which devices get the update now, when a roll-out stops);
- ``service.py``: storing releases (signature checked against the fleet's key), the ingest hooks that record what
  devices report (``update.*`` events, the ``update`` command's result), and the worker that advances roll-outs;
- ``api.py``: ``/api/v1/releases``, ``/api/v1/rollouts``, and ``/releases/<file>`` that devices download from.
"""
