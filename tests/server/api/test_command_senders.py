"""Who may send a command comes from the kind's contract: commands the server sends itself (list sync, settlement
acknowledgements, order updates, payments) are refused to every person, through the API and the page form."""

from __future__ import annotations

import pytest

from linli.contract import KINDS, SERVER_ONLY, Kind
from linli.testing import TestBroker
from server.commands import CommandNotAllowed, check_sender
from server.testing import DeviceSim, Live, known, new_ref


def test_every_declared_command_names_who_may_send_it() -> None:
    for kind, kc in KINDS.items():
        for cmd in kc.commands:
            assert cmd.senders, f"{kind.value}.{cmd.name} names no sender"
            assert cmd.zh and cmd.en, f"{kind.value}.{cmd.name} has no human name"
    server_only = {(k.value, c.name) for k, kc in KINDS.items() for c in kc.commands if c.senders == SERVER_ONLY}
    assert {("gate", "lists_sync"), ("gate", "session_paid"), ("charger", "settle_ack"),
            ("taxi_kiosk", "order_update")} <= server_only


def test_check_sender() -> None:
    check_sender("gate", "open_barrier", "maintenance")
    check_sender("probe", "ping", "admin")  # commands outside the contract are the device's to refuse
    with pytest.raises(CommandNotAllowed, match="server itself"):
        check_sender("gate", "lists_sync", "admin")


def test_api_refuses_a_server_only_command_to_a_person(live: Live, mqtt_broker: TestBroker) -> None:
    ref = new_ref(kind=Kind.gate)
    dev = DeviceSim.provisioned(mqtt_broker, ref)
    try:
        known(live.server, ref)
        with live.ls.client("admin") as http:
            r = http.post(f"/api/v1/devices/{ref.key}/commands",
                          json={"name": "lists_sync", "args": {"base_version": 0, "version": 1}})
            assert r.status_code == 403 and "server itself" in r.json()["detail"]
            ok = http.post(f"/api/v1/devices/{ref.key}/commands",
                           json={"name": "close_barrier", "args": {"lane": "in"}})
            assert ok.status_code == 202, ok.text
        assert not any(n == "lists_sync" for n, _ in dev.commands())
    finally:
        dev.close()
