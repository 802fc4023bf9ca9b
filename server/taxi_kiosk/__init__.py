"""Server side of the ``taxi_kiosk`` kind: orders from the kiosks, dispatch through a taxi provider adapter (a
built-in simulated fleet until a real platform is plugged in), state pushed back to the kiosks, figures per kiosk."""

from linli.contract import Kind
from server.kinds import KindSpec

#: What this kind brings to the server (read by ``server.kinds.ServerKinds``; the parts are in that module).
KIND = KindSpec(Kind.taxi_kiosk, models=True, ingest=True, api=True, pages=True, dashboard=True, worker=True,
                templates=True, migrations=True)
