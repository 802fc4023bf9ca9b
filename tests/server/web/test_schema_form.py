"""The command picker's JSON schema → form renderer and its way back to typed, validated arguments."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from linli.contract import KINDS
from server.web.schema_form import SchemaFormError, fields, values


class Demo(BaseModel):
    seconds: float = Field(0.5, ge=0.1, le=5.0, description="pulse length")
    count: int = Field(ge=1, le=9)
    on: bool = False
    mode: Literal["fast", "slow"] = "slow"
    note: str | None = Field(None, max_length=20)


def test_fields_follow_the_schema() -> None:
    got = {f.name: f for f in fields(Demo)}
    assert got["seconds"].input == "number" and got["seconds"].step == "any" and got["seconds"].maximum == 5.0
    assert got["seconds"].default == 0.5 and not got["seconds"].required
    assert got["count"].step == "1" and got["count"].required and got["count"].minimum == 1
    assert got["on"].input == "checkbox"
    assert got["mode"].input == "select" and got["mode"].options == ("fast", "slow")
    assert got["note"].input == "text" and got["note"].max_length == 20  # optional (X | None) resolved


def test_values_are_typed_and_validated() -> None:
    form = {"arg.seconds": "1.5", "arg.count": "3", "arg.on": "1", "arg.mode": "fast", "arg.note": ""}
    assert values(Demo, form) == {"seconds": 1.5, "count": 3, "on": True, "mode": "fast"}
    assert values(Demo, {"arg.count": "2"}) == {"count": 2, "on": False}  # defaults stay the model's
    for bad, where in (({"arg.count": ""}, "count"), ({"arg.count": "x"}, "count"),
                       ({"arg.count": "2", "arg.seconds": "9"}, "seconds"), ({"arg.count": "2", "arg.mode": "warp"},
                                                                              "mode")):
        with pytest.raises(SchemaFormError, match=where):
            values(Demo, bad)


def test_every_command_people_send_has_a_form() -> None:
    for kc in KINDS.values():
        for info in kc.commands:
            if info.may_send("admin") or info.may_send("maintenance"):
                fields(info.args)  # raises for an argument the form cannot show
