"""The wire contract: topic builders/parsers and payload models round-trip, and bad input is refused clearly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli import contract as c

REF = c.DeviceRef("sh-caoyang-01", c.Kind.lift_guard, "lift-3a")


def test_topic_tree_matches_design():
    assert REF.status_topic == "linli/v1/sh-caoyang-01/lift_guard/lift-3a/status"
    assert REF.cmd_topic("release") == "linli/v1/sh-caoyang-01/lift_guard/lift-3a/cmd/release"
    assert REF.config_desired_topic.endswith("/config/desired")
    sha = c.sha256_hex(b"jpeg")
    assert REF.blob_topic(sha).endswith(f"/blob/{sha}")


@pytest.mark.parametrize("channel", [ch for ch in c.Channel if ch not in (c.Channel.blob, c.Channel.cmd)])
def test_parse_inverts_build(channel):
    p = c.parse_topic(REF.topic(channel))
    assert (p.ref, p.channel, p.arg) == (REF, channel, None)


def test_parse_blob_and_cmd():
    sha = c.sha256_hex(b"x")
    assert c.parse_topic(REF.blob_topic(sha)).arg == sha
    assert c.parse_topic(REF.cmd_topic("release")).arg == "release"


@pytest.mark.parametrize(
    "topic, fragment",
    [
        ("other/v1/a/gate/b/event", "not under"),
        ("linli/v1/a/gate/event", "too short"),
        ("linli/v1/a/toaster/b/event", "kind 'toaster'"),
        ("linli/v1/A B/gate/b/event", "site"),
        ("linli/v1/a/gate/b/whatever", "unknown channel"),
        ("linli/v1/a/gate/b/blob/xyz", "sha256"),
        ("linli/v1/a/gate/b/cmd/Bad-Name", "command"),
        ("linli/v1/a/gate/b/cmd/x/y", "unknown channel"),
    ],
)
def test_parse_rejects_with_reason(topic, fragment):
    with pytest.raises(c.ContractError, match=fragment):
        c.parse_topic(topic)


@pytest.mark.parametrize("bad", ["", "UPPER", "has/slash", "has+plus", "has#hash", "a" * 49, "-lead"])
def test_names_cannot_inject_wildcards_or_levels(bad):
    with pytest.raises(c.ContractError):
        c.DeviceRef(bad, c.Kind.gate, "d1")


def test_event_round_trip_and_utc_normalisation():
    cst = timezone(timedelta(hours=8))
    ev = c.Event(type="lift.block", ts=datetime(2026, 11, 21, 20, 0, tzinfo=cst), severity="alarm",
                 data={"class": "ebike", "score": 0.93}, blobs=[c.sha256_hex(b"a")])
    back = c.decode(c.Channel.event, ev.encode())
    assert back == ev
    assert back.ts.tzinfo == UTC and back.ts.hour == 12
    assert len(ev.id) == 26


def test_every_channel_model_round_trips():
    health = c.Health(cpu_pct=3, mem_pct=40, rss_mb=60, disk_pct=12, outbox_depth=0, outbox_dropped=0, uptime_s=5)
    samples = {
        c.Channel.status: c.Status(state="online", kind=c.Kind.gate, software="0.1.0"),
        c.Channel.telemetry: c.Telemetry(health=health, gauges={"fps": 5.0, "door": True}),
        c.Channel.event: c.Event(type="probe.input"),
        c.Channel.cmd: c.Command.make(by="admin", args={"seconds": 1}),
        c.Channel.cmd_result: c.CommandResult(id=c.new_id(), name="pulse", ok=True, result={"x": 1}),
        c.Channel.config_desired: c.ConfigDesired(version=2, overrides={"a": 1}, by="admin"),
        c.Channel.config_reported: c.ConfigReported(version=2, ok=False, applied_version=1, error="bad"),
    }
    assert set(samples) == set(c.PAYLOAD_MODELS)
    for ch, obj in samples.items():
        assert c.decode(ch, obj.encode()) == obj


@pytest.mark.parametrize(
    "payload, fragment",
    [
        (b"\xff\xfe", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[1,2]", "not a JSON object"),
        (b'{"v": 2, "type": "x"}', "schema version 2"),
        (b'{"type": "x", "surprise": 1}', "surprise"),
        (b'{"type": "Bad Type"}', "type"),
        (b'{"type": "x", "ts": "2026-01-01T00:00:00"}', "timezone"),
        (b'{"type": "x", "id": "not-a-ulid"}', "id"),
        (b'{"type": "x", "blobs": ["abc"]}', "blobs"),
    ],
)
def test_decode_rejects_bad_payloads(payload, fragment):
    with pytest.raises(c.ContractError, match=fragment):
        c.decode(c.Channel.event, payload)


def test_oversized_payload_rejected_before_parsing():
    big = json.dumps({"type": "x", "data": {"pad": "a" * c.MAX_JSON_BYTES}}).encode()
    with pytest.raises(c.ContractError, match="over the"):
        c.decode(c.Channel.event, big)


def test_blob_check():
    data = b"\xff\xd8jpeg"
    c.check_blob(c.sha256_hex(data), data)
    with pytest.raises(c.ContractError, match="hashes to"):
        c.check_blob(c.sha256_hex(b"other"), data)
    with pytest.raises(c.ContractError, match="empty"):
        c.check_blob(c.sha256_hex(b""), b"")


def test_command_expiry():
    cmd = c.Command.make(by="admin", ttl_s=30)
    assert not cmd.expired()
    assert cmd.expired(cmd.expires + timedelta(seconds=1))
    assert c.decode(c.Channel.cmd, cmd.encode()).expires == cmd.expires


def test_server_subscriptions_cover_device_channels_only():
    subs = c.server_subscriptions(shared=True)
    assert all(s.startswith("$share/linli/linli/v1/+/+/+/") for s in subs)
    suffixes = {s.rsplit("+/", 1)[-1] for s in subs}
    assert "cmd/+" not in suffixes and "config/desired" not in suffixes
    assert {"status", "event", "blob/+", "cmd_result", "config/reported", "telemetry"} <= suffixes


@given(st.text(max_size=200))
def test_parse_topic_never_crashes_unexpectedly(s):
    try:
        c.parse_topic(s)
    except c.ContractError:
        pass


@given(st.binary(max_size=500))
def test_decode_never_crashes_unexpectedly(b):
    for ch in c.PAYLOAD_MODELS:
        try:
            c.decode(ch, b)
        except c.ContractError:
            pass
