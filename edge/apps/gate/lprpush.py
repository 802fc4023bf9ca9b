"""The LPR camera's HTTP push (臻识/vzicar style, the common Chinese one) and our replies to it.

The camera POSTs ``{"AlarmInfoPlate": {"serialno", "ipaddr", "deviceName", "channel", "result": {"PlateResult":
{"license", "colorType", "type", "confidence" (1-100), "triggerType", "plateid", "isoffline", "gioouts",
"location", "timeStamp": {"Timeval": {"sec", "usec"}}, "imageFile" (base64 JPEG), "imageFragmentFile"}}}}}``.

Our reply decides: ``{"Response_AlarmInfoPlate": {"info": "ok", …}}`` makes the camera pulse its IO (open);
``"info": "no"`` with ``"content": "retransfer_stop"`` acknowledges without opening (so it does not resend).
Bodies may be UTF-8 or GBK (older firmware); the header's charset wins when given.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from linli.gate.plates import CAMERA_COLOURS, PlateColour


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
    triggerType: int = 0
    plateid: int | None = Field(None, ge=0, le=2**53)
    isoffline: int = 0
    gioouts: list[_Gio] = Field(default_factory=list, max_length=16)
    timeStamp: _TimeStamp | None = None
    imageFile: str | None = None
    imageFragmentFile: str | None = None


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
    plate_id: int | None
    offline: bool
    camera_opened: bool
    camera_time: datetime | None
    image: bytes | None
    image_problem: str | None


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
        offline=pr.isoffline == 1, camera_opened=any(g.ctrltype in (1, 2) for g in pr.gioouts),
        camera_time=cam_time, image=image, image_problem=problem)


def reply(open_gate: bool, plate_id: int | None = None, content: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"info": "ok" if open_gate else "no"}
    if plate_id is not None:
        body["plateid"] = plate_id
    body["content"] = content if content is not None else ("" if open_gate else "retransfer_stop")
    return {"Response_AlarmInfoPlate": body}


def error_reply(message: str) -> dict[str, Any]:
    return {"Response_AlarmInfoPlate": {"info": "no", "content": "retransfer_stop", "error": message[:300]}}


def heartbeat_reply() -> dict[str, Any]:
    return {"Response_Heartbeat": {"info": "no"}}
