"""The LPR camera's HTTP push (臻识/vzicar style, the common Chinese one) and our replies to it.

The camera POSTs ``{"AlarmInfoPlate": {"serialno", "ipaddr", "deviceName", "channel", "result": {"PlateResult":
{"license", "colorType", "type", "confidence" (1-100), "triggerType", "plateid", "isoffline", "gioouts",
"location", "timeStamp": {"Timeval": {"sec", "usec"}}, "imageFile" (base64 JPEG), "imageFragmentFile"}}}}}``.

Our reply decides: ``{"Response_AlarmInfoPlate": {"info": "ok", …}}`` makes the camera pulse its IO (open);
``"info": "no"`` with ``"content": "retransfer_stop"`` acknowledges without opening (so it does not resend).
Bodies may be UTF-8 or GBK (older firmware); the header's charset wins when given.

Fields as cameras really send them: ``plateid`` is a number up to 2^64 − 1 or a string (kept as text, echoed in
the form it came in); ``isoffline`` is 0/1, true/false or those as strings; ``triggerType`` is one of
``TRIGGERS`` (64 lingering, 65 lingering over, 66 reversing: the same vehicle seen again, never a new passage).
A camera time before 2020 or beyond the allowed skew is a clock fault: the read keeps our time and is flagged.

``PushIntake`` takes a parsed push to its lane: which lane (by camera serial), a resend of a push already
answered (same ``plateid``) gets the same answer, the camera's time checked, and the lane's answer turned into
the camera's reply.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from linli.gate.plates import CAMERA_COLOURS, PlateColour

if TYPE_CHECKING:
    from .lane import Lane
    from .store import GateStore

#: ``triggerType`` codes of the push protocol
TRIGGERS: dict[int, str] = {1: "auto", 2: "io", 4: "sdk", 8: "virtual_loop", 16: "auto_no_plate", 64: "lingering",
                            65: "lingering_over", 66: "reversing"}
#: triggers that report a vehicle already seen (still there, or backing away): never a new passage
SAME_VEHICLE_TRIGGERS = frozenset({64, 65, 66})
PLATE_ID_MAX = 2**64 - 1
EARLIEST_CAMERA_TIME = datetime(2020, 1, 1, tzinfo=UTC)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class PushError(Exception):
    """A push we cannot use; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Timeval(_Lenient):
    sec: int = Field(ge=0, le=10**11)
    usec: int = Field(0, ge=0, le=10**6)


class _TimeStamp(_Lenient):
    Timeval: _Timeval


class _Gio(_Lenient):
    ionum: str | int | None = None
    ctrltype: int = 0


class _PlateResult(_Lenient):
    license: str = Field(max_length=256)
    colorType: int = Field(0, ge=0, le=255)
    type: int = Field(0, ge=0, le=255)
    confidence: float = Field(0, ge=0, le=100)
    triggerType: int = Field(0, ge=0, le=2**31)
    plateid: int | str | None = None
    isoffline: bool | int | str = 0
    gioouts: list[_Gio] = Field(default_factory=list, max_length=16)
    timeStamp: _TimeStamp | None = None
    imageFile: str | None = None
    imageFragmentFile: str | None = None

    @field_validator("plateid")
    @classmethod
    def _plate_id(cls, v: int | str | None) -> int | str | None:
        if isinstance(v, bool):
            raise ValueError("plateid must be a number or text")
        if isinstance(v, int) and not 0 <= v <= PLATE_ID_MAX:
            raise ValueError(f"plateid {v} is outside 0..2^64-1")
        if isinstance(v, str):
            v = v.strip()
            if not v or len(v) > 40 or not v.isprintable():
                raise ValueError("plateid text must be 1-40 printable characters")
        return v

    @field_validator("isoffline")
    @classmethod
    def _offline(cls, v: bool | int | str) -> bool:
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            if v in (0, 1):
                return bool(v)
            raise ValueError(f"isoffline {v} is neither 0 nor 1")
        text = v.strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError(f"isoffline {v[:10]!r} is not 0/1/true/false")


class _Result(_Lenient):
    PlateResult: _PlateResult


class _Alarm(_Lenient):
    serialno: str = Field("", max_length=64)
    ipaddr: str = Field("", max_length=64)
    deviceName: str = Field("", max_length=64)
    channel: int = 0
    result: _Result


@dataclass(frozen=True)
class PushRead:
    serial: str
    ip: str
    plate_raw: str
    colour: PlateColour
    plate_type: int
    confidence: float  # 0..1
    trigger: int
    plate_id: int | str | None  # as the camera sent it (echoed so)
    offline: bool
    camera_opened: bool
    camera_time: datetime | None
    image: bytes | None
    image_problem: str | None

    @property
    def plate_key(self) -> str | None:
        """``plateid`` as text: one key whether the camera sent 7 or "7"."""
        return None if self.plate_id is None else str(self.plate_id)

    @property
    def same_vehicle(self) -> bool:
        return self.trigger in SAME_VEHICLE_TRIGGERS


def decode_body(body: bytes, content_type: str | None) -> Any:
    charset = None
    if content_type and "charset=" in content_type.lower():
        charset = content_type.lower().split("charset=", 1)[1].split(";")[0].strip().strip('"')
    text: str | None = None
    for enc in ([charset] if charset else []) + ["utf-8", "gb18030"]:
        try:
            text = body.decode(enc)
            break
        except (UnicodeDecodeError, LookupError):
            continue
    if text is None:
        raise PushError(400, "body is neither UTF-8 nor GBK text")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PushError(400, f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def is_heartbeat(doc: Any) -> bool:
    return isinstance(doc, dict) and "AlarmInfoPlate" not in doc and any("heartbeat" in str(k).lower() for k in doc)


def _image(b64: str | None, max_bytes: int) -> tuple[bytes | None, str | None]:
    if not b64:
        return None, None
    if len(b64) > max_bytes * 4 // 3 + 8:
        return None, f"image of about {len(b64) * 3 // 4} bytes is over the {max_bytes}-byte limit: dropped"
    try:
        data = base64.b64decode(b64, validate=False)
    except (binascii.Error, ValueError):
        return None, "image is not base64: dropped"
    if not data.startswith(b"\xff\xd8\xff"):
        return None, "image is not a JPEG: dropped"
    return data, None


def parse_push(doc: Any, max_image_bytes: int) -> PushRead:
    if not isinstance(doc, dict) or "AlarmInfoPlate" not in doc:
        raise PushError(400, "JSON has no AlarmInfoPlate object")
    try:
        alarm = _Alarm.model_validate(doc["AlarmInfoPlate"])
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PushError(400, f"AlarmInfoPlate.{'.'.join(str(x) for x in first['loc'])}: {first['msg']}") from None
    pr = alarm.result.PlateResult
    cam_time = None
    if pr.timeStamp is not None and pr.timeStamp.Timeval.sec > 0:
        cam_time = datetime.fromtimestamp(pr.timeStamp.Timeval.sec + pr.timeStamp.Timeval.usec / 1e6, UTC)
    image, problem = _image(pr.imageFragmentFile or pr.imageFile, max_image_bytes)
    return PushRead(
        serial=alarm.serialno, ip=alarm.ipaddr, plate_raw=pr.license,
        colour=CAMERA_COLOURS.get(pr.colorType, PlateColour.unknown), plate_type=pr.type,
        confidence=round(min(100.0, pr.confidence) / 100, 3), trigger=pr.triggerType, plate_id=pr.plateid,
        offline=bool(pr.isoffline), camera_opened=any(g.ctrltype in (1, 2) for g in pr.gioouts),
        camera_time=cam_time, image=image, image_problem=problem)


def reply(open_gate: bool, plate_id: int | str | None = None, content: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"info": "ok" if open_gate else "no"}
    if plate_id is not None:
        body["plateid"] = plate_id
    body["content"] = content if content is not None else ("" if open_gate else "retransfer_stop")
    return {"Response_AlarmInfoPlate": body}


def error_reply(message: str) -> dict[str, Any]:
    return {"Response_AlarmInfoPlate": {"info": "no", "content": "retransfer_stop", "error": message[:300]}}


def heartbeat_reply() -> dict[str, Any]:
    return {"Response_Heartbeat": {"info": "no"}}


def camera_clock(camera_time: datetime | None, now: datetime, max_skew_s: float, offline: bool
                 ) -> tuple[datetime, float | None]:
    """The time a read happened, and the camera clock's skew in seconds when it is a fault (else None).

    A live read keeps the camera's time when its clock is within ``max_skew_s``; an offline replay keeps it (it
    happened in the past) unless the clock is plainly wrong: before 2020 or ahead of us by more than the skew."""
    if camera_time is None:
        return now, None
    skew = round((camera_time - now).total_seconds(), 1)
    wrong = camera_time < EARLIEST_CAMERA_TIME or skew > max_skew_s
    if wrong or (not offline and abs(skew) > max_skew_s):
        return now, skew
    return camera_time, None


class PushIntake:
    """A parsed push → its lane → the camera's reply (see the module doc)."""

    def __init__(self, lanes: Mapping[str, Lane], store: GateStore, now: Callable[[], datetime],
                 max_clock_skew_s: float) -> None:
        self.lanes = lanes
        self.store = store
        self.now = now
        self.max_clock_skew_s = max_clock_skew_s
        self._lock = threading.Lock()

    def lane_for(self, read: PushRead) -> Lane:
        push_lanes = {n: lane for n, lane in self.lanes.items() if lane.cfg.source == "lpr_push"}
        for lane in push_lanes.values():
            if lane.cfg.lpr_serial is not None and lane.cfg.lpr_serial == read.serial:
                return lane
        if len(push_lanes) == 1:
            only = next(iter(push_lanes.values()))
            if only.cfg.lpr_serial is None:
                return only
        raise PushError(403, f"unknown LPR camera serialno {read.serial[:40]!r}: set lpr_serial of its lane")

    def handle(self, read: PushRead) -> dict[str, Any]:
        from .lane import Observation

        lane = self.lane_for(read)
        source = f"{lane.name}:{read.serial}"
        key = read.plate_key
        with self._lock:
            if key is not None:
                seen = self.store.seen_reply(source, key)
                if seen is not None:
                    return seen
            now = self.now()
            at, skew = camera_clock(read.camera_time, now, self.max_clock_skew_s, read.offline)
            obs = Observation(read.plate_raw, read.colour, "lpr_push", at, read.confidence, key, read.offline,
                              read.camera_opened, read.image, skew, read.image_problem, read.trigger)
            out = lane.handle(obs)
            camera_opens = lane.cfg.open_via in ("camera", "both") and out.verdict.opens and out.opened \
                and not read.offline
            doc = reply(camera_opens, read.plate_id)
            if key is not None:
                self.store.remember_reply(source, key, doc, now)
            return doc
