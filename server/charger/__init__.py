"""Charging piles on the server: orders and bills, settlement acknowledgements, tariffs, live port map, pages."""

from linli.contract import Kind
from server.kinds import KindSpec

#: What this kind brings to the server (read by ``server.kinds.ServerKinds``; the parts are in that module).
KIND = KindSpec(Kind.charger, models=True, ingest=True, api=True, pages=True, dashboard=True, worker=True,
                templates=True, migrations=True)
