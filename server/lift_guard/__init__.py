"""Server side of the lift guard: blocks per lift per day, staff (false-alarm) releases, faults, the snapshot gallery
(within the retention time) and the audited ``release`` command; labels on snapshots, the site-trained second-stage
classifier (training in the background worker, held-out figures, deploy and rollback)."""

from linli.contract import Kind
from server.kinds import KindSpec

#: What this kind brings to the server (read by ``server.kinds.ServerKinds``; the parts are in that module).
KIND = KindSpec(Kind.lift_guard, models=True, queries=True, ingest=True, api=True, pages=True, dashboard=True,
                worker=True, templates=True, migrations=True)
