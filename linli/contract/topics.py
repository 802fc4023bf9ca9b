"""Topic names of the wire contract: device identity (:class:`DeviceRef`), channels and the topic tree.

Every MQTT topic string in linli is built or parsed here; neither edge nor server writes one of its own.

Topic tree (docs/ARCHITECTURE.md §3)::

    linli/v1/{site}/{kind}/{device}/status               dev→srv  QoS1 retained, LWT = offline
    linli/v1/{site}/{kind}/{device}/telemetry            dev→srv  QoS0
    linli/v1/{site}/{kind}/{device}/event                dev→srv  QoS1
    linli/v1/{site}/{kind}/{device}/blob/{sha256}        dev→srv  QoS1, raw JPEG, published before its event
    linli/v1/{site}/{kind}/{device}/cmd/{name}           srv→dev  QoS1
    linli/v1/{site}/{kind}/{device}/cmd_result           dev→srv  QoS1
    linli/v1/{site}/{kind}/{device}/config/desired       srv→dev  QoS1 retained
    linli/v1/{site}/{kind}/{device}/config/reported      dev→srv  QoS1 retained
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

SCHEMA_VERSION = 1
TOPIC_ROOT = "linli/v1"
SHARE_GROUP = "linli"

#: Largest JSON payload either side accepts (bytes). Larger ones are rejected unparsed.
MAX_JSON_BYTES = 256 * 1024
#: Deepest nesting of arrays and objects in a JSON payload (deeper ones are refused before parsing).
MAX_JSON_DEPTH = 32
#: Largest integer in a JSON payload (64 bits: cameras number their reads up to 2^64 - 1); models bound the rest.
MAX_INT = 2**64 - 1
#: Largest blob (JPEG snapshot) accepted.
MAX_BLOB_BYTES = 4 * 1024 * 1024

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
CMD_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


class Kind(StrEnum):
    """Device kinds. ``probe`` is the minimal built-in kind (one input, one relay) used for commissioning and tests."""

    lift_guard = "lift_guard"
    gate = "gate"
    charger = "charger"
    taxi_kiosk = "taxi_kiosk"
    probe = "probe"


class Channel(StrEnum):
    status = "status"
    telemetry = "telemetry"
    event = "event"
    blob = "blob"
    cmd = "cmd"
    cmd_result = "cmd_result"
    config_desired = "config/desired"
    config_reported = "config/reported"


class ContractError(ValueError):
    """A topic or payload that does not follow the contract. The message says what is wrong."""


# --------------------------------------------------------------------------------------------- topics
def _check_name(what: str, value: str) -> str:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise ContractError(
            f"{what} {value!r} is not allowed: use 1-48 of a-z 0-9 _ - starting with a letter or digit"
        )
    return value


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """Identity of one device: the site (compound) it belongs to, its kind and its id within the site."""

    site: str
    kind: Kind
    device: str

    def __post_init__(self) -> None:
        _check_name("site", self.site)
        _check_name("device", self.device)
        try:
            object.__setattr__(self, "kind", Kind(self.kind))
        except ValueError:
            raise ContractError(
                f"kind {self.kind!r} is not allowed: one of {', '.join(k.value for k in Kind)}"
            ) from None

    # -- topic builders
    @property
    def base(self) -> str:
        return f"{TOPIC_ROOT}/{self.site}/{self.kind.value}/{self.device}"

    @property
    def key(self) -> str:
        """Short human key ``site/kind/device``."""
        return f"{self.site}/{self.kind.value}/{self.device}"

    @property
    def mqtt_username(self) -> str:
        """The broker account of this device (provisioned by ``linli provision``)."""
        return f"dev.{self.site}.{self.device}"

    def topic(self, channel: Channel, arg: str | None = None) -> str:
        if channel in (Channel.blob, Channel.cmd):
            if arg is None:
                raise ContractError(f"channel {channel.value} needs an argument")
            if channel is Channel.blob and not SHA256_RE.fullmatch(arg):
                raise ContractError(f"blob topic needs a lowercase sha256 hex digest, got {arg!r}")
            if channel is Channel.cmd and arg != "+" and not CMD_NAME_RE.fullmatch(arg):
                raise ContractError(f"command name {arg!r} is not allowed: a-z 0-9 _ starting with a letter")
            return f"{self.base}/{channel.value}/{arg}"
        if arg is not None:
            raise ContractError(f"channel {channel.value} takes no argument")
        return f"{self.base}/{channel.value}"

    @property
    def status_topic(self) -> str:
        return self.topic(Channel.status)

    @property
    def telemetry_topic(self) -> str:
        return self.topic(Channel.telemetry)

    @property
    def event_topic(self) -> str:
        return self.topic(Channel.event)

    def blob_topic(self, sha256: str) -> str:
        return self.topic(Channel.blob, sha256)

    def cmd_topic(self, name: str) -> str:
        return self.topic(Channel.cmd, name)

    @property
    def cmd_subscription(self) -> str:
        return self.topic(Channel.cmd, "+")

    @property
    def cmd_result_topic(self) -> str:
        return self.topic(Channel.cmd_result)

    @property
    def config_desired_topic(self) -> str:
        return self.topic(Channel.config_desired)

    @property
    def config_reported_topic(self) -> str:
        return self.topic(Channel.config_reported)

    def device_subscriptions(self) -> list[str]:
        """What an agent subscribes to: its own commands and desired config."""
        return [self.cmd_subscription, self.config_desired_topic]

    def acl_publish(self) -> list[str]:
        """Topics this device may publish to (for the broker ACL)."""
        return [
            self.status_topic,
            self.telemetry_topic,
            self.event_topic,
            f"{self.base}/{Channel.blob.value}/+",
            self.cmd_result_topic,
            self.config_reported_topic,
        ]

    def acl_subscribe(self) -> list[str]:
        """Topics this device may read (for the broker ACL)."""
        return self.device_subscriptions()


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    ref: DeviceRef
    channel: Channel
    arg: str | None = None


def parse_topic(topic: str) -> ParsedTopic:
    """Parse a linli topic. Raises ContractError naming what is wrong."""
    parts = topic.split("/")
    root = TOPIC_ROOT.split("/")
    if parts[: len(root)] != root:
        raise ContractError(f"topic {topic!r} is not under {TOPIC_ROOT}/")
    rest = parts[len(root) :]
    if len(rest) < 4:
        raise ContractError(f"topic {topic!r} is too short: expected {TOPIC_ROOT}/site/kind/device/channel")
    site, kind, device, *tail = rest
    ref = DeviceRef(site, kind, device)  # type: ignore[arg-type]
    joined = "/".join(tail)
    if joined in (Channel.status, Channel.telemetry, Channel.event, Channel.cmd_result,
                  Channel.config_desired, Channel.config_reported):
        return ParsedTopic(ref, Channel(joined))
    if len(tail) == 2 and tail[0] == Channel.blob.value:
        if not SHA256_RE.fullmatch(tail[1]):
            raise ContractError(f"blob topic {topic!r} does not end in a lowercase sha256 hex digest")
        return ParsedTopic(ref, Channel.blob, tail[1])
    if len(tail) == 2 and tail[0] == Channel.cmd.value:
        if not CMD_NAME_RE.fullmatch(tail[1]):
            raise ContractError(f"command topic {topic!r} has a bad command name")
        return ParsedTopic(ref, Channel.cmd, tail[1])
    raise ContractError(f"unknown channel {joined!r} in topic {topic!r}")


def server_subscriptions(shared: bool = True) -> list[str]:
    """What the server ingest subscribes to (device→server channels of every device)."""
    prefix = f"$share/{SHARE_GROUP}/" if shared else ""
    chans = [Channel.status.value, Channel.telemetry.value, Channel.event.value, f"{Channel.blob.value}/+",
             Channel.cmd_result.value, Channel.config_reported.value]
    return [f"{prefix}{TOPIC_ROOT}/+/+/+/{c}" for c in chans]


def server_acl_pattern() -> str:
    """The server account may read and write the whole linli tree."""
    return f"{TOPIC_ROOT}/#"


