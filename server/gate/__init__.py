"""The gate kind on the server: lists (residents, visitors, blacklist, door cards), tariffs and capacity, list sync
to the gates (versioned deltas), passages, parking sessions, payments, door events; API and pages."""

from linli.contract import Kind
from server.kinds import KindSpec

#: What this kind brings to the server (read by ``server.kinds.ServerKinds``; the parts are in that module).
KIND = KindSpec(Kind.gate, models=True, queries=True, ingest=True, api=True, pages=True, dashboard=True, worker=True,
                templates=True, migrations=True)
