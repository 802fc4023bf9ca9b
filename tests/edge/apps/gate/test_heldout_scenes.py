"""The held-out plate scenes (bench/plates_heldout.py) are frozen by their seed: the same seed draws the same
pixels, every plate kind and degradation appears, and plate-free vehicles carry no plate text."""

from __future__ import annotations

from collections import Counter

import numpy as np

from bench.plates_heldout import FRAMES, heldout, plate_text, vehicle
from linli.gate.plates import parse


def test_same_seed_same_pixels() -> None:
    a, b = vehicle(900_003, degraded=True), vehicle(900_003, degraded=True)
    assert a.text == b.text and len(a.frames) == FRAMES
    assert all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames, strict=True))
    assert not np.array_equal(a.frames[0], vehicle(900_004, degraded=True).frames[0])


def test_the_set_covers_every_kind_and_valid_plates() -> None:
    import random

    rng = random.Random(1)
    kinds = {"blue": "ordinary", "green": "new_energy", "yellow_green": "new_energy_large", "yellow": "ordinary",
             "double": "ordinary", "trailer": "trailer", "coach": "coach", "police": "police"}
    for kind, ga36 in kinds.items():
        for _ in range(20):
            assert parse(plate_text(rng, kind)).kind == ga36
    plan = heldout(5, 5, 4)
    assert Counter(label for label, *_ in plan) == {"clean": 5, "degraded": 5, "empty": 4}
    empty = vehicle(plan[-1][1], plan[-1][2], plan[-1][3])
    assert empty.text == "" and empty.kind == "none"
