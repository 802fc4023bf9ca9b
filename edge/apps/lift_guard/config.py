"""The ``app:`` section of a lift guard."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.apps.base import CameraName, InputName, RelayName
from edge.vision import (
    ClassMapConfig,
    ConfirmConfig,
    DetectorConfig,
    HealthConfig,
    MotionConfig,
    RegionConfig,
)
from edge.vision.config import NightConfig, ZoomConfig
from edge.vision.second_stage import SecondStageConfig

#: The classes a lift guard knows. Which of them block is configured (``classes.acting``).
LIFT_CLASSES = ("ebike", "battery", "bicycle", "person", "stroller", "wheelchair", "cart", "scooter", "other")

DEFAULT_MODEL = Path("models/ssd_mobilenet_v2_coco_quant/ssd_mobilenet_v2_coco_quant.onnx")
DEFAULT_LABELS = Path("models/ssd_mobilenet_v2_coco_quant/coco_labels.txt")

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


LiftMode = Literal["inspection", "fire_recall", "emergency_electric", "earthquake", "out_of_service", "other"]
LIFT_MODE_NAMES: dict[str, tuple[str, str]] = {
    "inspection": ("检修运行", "inspection"),
    "fire_recall": ("消防返回/消防运行", "fire recall / fire service"),
    "emergency_electric": ("紧急电动运行", "emergency electric operation"),
    "earthquake": ("地震运行", "earthquake operation"),
    "out_of_service": ("停止服务", "out of service"),
    "other": ("非正常运行", "non-normal mode"),
}


class InhibitInput(_Section):
    """One non-normal-mode signal of the lift controller.

    Wiring (fail-safe): take a dry contact of the controller that is **closed in normal service** and opens in the
    mode (or a relay of ours driven by the controller's mode output), one side to the input pin, the other to GND;
    configure the hal input with ``pull_up: true, active_state: true`` (active = pin high = contact open). A cut wire
    or a pulled connector then reads as the mode being active, and blocking stays off. An input that cannot be read
    at all (closed, driver error) counts as active too. Never wire an inhibit input into the lift's safety chain:
    it is only read."""

    input: InputName = Field(title="Input", description="Name of the input in hal.inputs.")
    mode: LiftMode = Field("other", title="Lift mode",
                           description="What the signal means: inspection, fire_recall, emergency_electric, "
                           "earthquake, out_of_service or other (shown on the page and in release notes).")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, v: object) -> object:
        return {"input": v} if isinstance(v, str) else v


#: One object may get any of these names in different frames (COCO calls an e-bike "bicycle" now and then).
#: Used when ``classes.families`` is not given.
DEFAULT_FAMILIES = {"two_wheeler": ["ebike", "bicycle", "scooter"]}


def _default_detector() -> DetectorConfig:
    return DetectorConfig(kind="ssd", model=DEFAULT_MODEL, labels=DEFAULT_LABELS)


def _default_classes() -> ClassMapConfig:
    # The default COCO model has no e-bike class: a two-wheeler (bicycle or motorcycle) stands in for it.
    return ClassMapConfig(map={"motorcycle": "ebike", "bicycle": "ebike", "person": "person"}, acting=["ebike"],
                          families=dict(DEFAULT_FAMILIES))


class Prompt(_Section):
    text: str = Field(min_length=1, max_length=200, title="Text", description="What the speaker says.")
    lang: str = Field("zh", pattern=r"^[a-z]{2,3}(-[a-z0-9]+)?$", title="Language",
                      description="zh (the Chinese voice of the speaker config), en, or an espeak-ng voice name.")


def _default_prompts() -> list[Prompt]:
    return [Prompt(text="电动车禁止进入电梯，请立即退出。", lang="zh"),
            Prompt(text="E-bikes are not allowed in the lift. Please take it out.", lang="en")]


class VoiceConfig(_Section):
    """The spoken warning while the door is held."""

    enabled: bool = Field(True, title="Enabled", description="Speak while blocking.")
    repeat_s: float = Field(10.0, ge=2, le=120, title="Repeat every (s)",
                            description="The warning is repeated this often while the object stays.")
    prompts: list[Prompt] = Field(default_factory=_default_prompts, min_length=1, title="Prompts",
                                  description="Said in order each time (Mandarin first).")
    class_prompts: dict[str, list[Prompt]] = Field(
        default_factory=lambda: {"battery": [Prompt(text="电动车电池禁止带入电梯，请立即带出。", lang="zh"),
                                             Prompt(text="E-bike batteries are not allowed in the lift.",
                                                    lang="en")]},
        title="Prompts by class", description="Other words for some classes (e.g. battery); others use prompts.")
    wav: Path | None = Field(None, title="Recorded prompt",
                             description="A WAV file played instead of the synthesised prompts (a recorded voice).")


class Window(_Section):
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1, title="Days",
                                description="Weekdays (mon … sun) on which the window applies.")
    start: str = Field("00:00", title="From", description="HH:MM, Shanghai time.")
    end: str = Field("24:00", title="Until", description="HH:MM, Shanghai time; before `start` = past midnight.")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"{v!r} is not a time: use HH:MM from 00:00 to 24:00")
        return v

    def minutes(self) -> tuple[int, int]:
        def m(s: str) -> int:
            h, mm = s.split(":")
            return int(h) * 60 + int(mm)

        return m(self.start), m(self.end)


class ScheduleConfig(_Section):
    """When blocking is enabled. Empty = always (the law applies all day)."""

    windows: list[Window] = Field(default_factory=list, title="Windows",
                                  description="Blocking is on inside any window; none = always on.")


class SnapshotConfig(_Section):
    quality: int = Field(80, ge=30, le=95, title="JPEG quality", description="Quality of evidence snapshots.")
    max_width: int = Field(960, ge=160, le=4096, title="Largest width (px)",
                           description="Snapshots are shrunk to this width.")
    retention_days: int = Field(30, ge=1, le=3650, title="Kept for (days)",
                                description="Snapshots stored on the device are deleted after this many days "
                                "(evidence rules: at least 30).")


class ClassifierConfig(_Section):
    """The site-trained second-stage classifier this lift runs (set by the server's deploy action through the
    desired config; none = the detector-only rule). The device downloads the file once, keeps it under its data
    folder, checks its SHA-256, format, classes and feature extractor, and falls back to the detector-only rule
    (saying why) when any check fails."""

    version: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", title="Version",
                         description="The classifier's version (as the server named it).")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", title="SHA-256", description="Checksum of the file.")
    url: str | None = Field(None, max_length=2000, pattern=r"^https?://", title="Download address",
                            description="Where the file is fetched from (the server).")
    path: Path | None = Field(None, title="Local file", description="A file on the device instead of a download.")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of url and path")
        return self


class LiftGuardConfig(_Section):
    """A camera in a lift car that holds the door open while an e-bike or its battery is inside."""

    camera: CameraName = Field("car", title="Camera", description="Name of the car camera in hal.cameras.")
    door_input: InputName = Field(
        "door_open", title="Door-open input",
        description="Input (in hal.inputs) from the lift controller that is active while the car stands at a floor "
        "with its door open. The hold relay is energised only while it is active.")
    hold_relay: RelayName = Field(
        "door_hold", title="Hold-door relay",
        description="Relay (in hal.relays) whose normally-open contact holds the door open / inhibits closing "
        "(wired in parallel with the door-open button). Never part of a safety circuit.")
    inhibit_inputs: list[InhibitInput] = Field(
        default_factory=list, title="Lift-mode (inhibit) inputs",
        description="Inputs from the lift controller that signal a non-normal lift mode (inspection, fire recall, "
        "emergency electric operation, earthquake …). While any is active — or cannot be read — blocking is off and "
        "the hold relay stays released (TSG T7001: an add-on leaves the lift alone outside normal service). A plain "
        "input name is mode 'other'. Wiring: see InhibitInput.")
    detector: DetectorConfig = Field(default_factory=_default_detector, title="Detector",
                                     description="The ONNX model and its adapter.")
    classes: ClassMapConfig = Field(default_factory=_default_classes, title="Classes",
                                    description=f"Model labels → lift classes ({', '.join(LIFT_CLASSES)}); "
                                    "`acting` lists the classes that block.")
    region: RegionConfig = Field(default_factory=RegionConfig, title="Region",
                                 description="The car floor and door area; objects outside it are ignored.")
    zoom: ZoomConfig = Field(default_factory=ZoomConfig, title="Zoomed pass at the door",
                             description="A second detector pass on the door and near floor, where a bike coming "
                             "in is still small (one more inference per detected frame).")
    night: NightConfig = Field(default_factory=NightConfig, title="Infrared night frames",
                               description="Grey (infrared) frames are smoothed and contrast-stretched for the "
                               "detector.")
    confirm: ConfirmConfig = Field(default_factory=ConfirmConfig, title="Confirmation",
                                   description="Accumulated evidence over a track before blocking (or N-of-M).")
    release_frames: int = Field(10, ge=1, le=600, title="Release after (frames)",
                                description="The door is released when the object has not been seen for this "
                                "many frames in a row (10 = 2 s at 5 fps).")
    track_iou: float = Field(0.3, gt=0, le=1, title="Tracking IoU",
                             description="Box overlap that continues an object's track from frame to frame.")
    track_contain: float = Field(
        0.6, gt=0, le=1, title="Tracking containment",
        description="A box lying this much inside another of the same family (a bike half hidden by its owner) is "
        "the same object: the pieces are joined and continue one track.")
    motion: MotionConfig = Field(default_factory=MotionConfig, title="Motion gate",
                                 description="Detect only when something moves (and while anything is tracked).")
    recheck_frames: int = Field(5, ge=1, le=1000, title="Re-check every (frames)",
                                description="With the door open, the detector also looks every this many frames "
                                "even without motion (a bike standing still).")
    health: HealthConfig = Field(default_factory=HealthConfig, title="Camera health",
                                 description="Black, covered and frozen view checks.")
    camera_grace_s: float = Field(15.0, ge=0, le=600, title="Camera start-up grace (s)",
                                  description="A camera not yet delivering at start is a fault only after this long.")
    max_hold_s: float = Field(180.0, ge=1, le=3600, title="Longest hold (s)",
                              description="The door is released after holding this long, with an alarm (a work "
                              "order): the guard never traps a lift.")
    max_hold_cooldown_s: float = Field(
        300.0, ge=0, le=86_400, title="Pause after a longest hold (s)",
        description="After a max-hold release, blocking pauses this long (or until the car is clear).")
    release_default_min: float = Field(5.0, ge=0.01, le=240, title="Remote release (min)",
                                       description="How long a `release` command pauses blocking by default.")
    release_max_min: float = Field(60.0, ge=0.01, le=1440, title="Longest release (min)",
                                   description="A `release` asking for longer is refused.")
    voice: VoiceConfig = Field(default_factory=VoiceConfig, title="Voice", description="Spoken warning.")
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig, title="Schedule",
                                     description="When blocking is enabled.")
    snapshots: SnapshotConfig = Field(default_factory=SnapshotConfig, title="Snapshots",
                                      description="Evidence pictures.")
    test_relay_s: float = Field(1.0, ge=0.1, le=5, title="Relay test pulse (s)",
                                description="Length of the maintenance page's relay test pulse.")
    live_every_s: float = Field(1.0, ge=0.2, le=60, title="Live picture every (s)",
                                description="How often the local page's live picture is refreshed.")
    classifier: ClassifierConfig | None = Field(
        None, title="Second-stage classifier",
        description="A site-trained crop classifier (e-bike / bicycle / stroller / wheelchair / cart / battery / "
        "other) on the detector's candidate boxes; none = detector only.")
    second_stage: SecondStageConfig = Field(default_factory=SecondStageConfig, title="Second stage",
                                            description="How the classifier's verdicts are used.")




    @field_validator("inhibit_inputs")
    @classmethod
    def _inhibits(cls, v: list[InhibitInput]) -> list[InhibitInput]:
        names = [x.input for x in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"input(s) {', '.join(dup)} listed twice")
        return v

    @property
    def inhibit_names(self) -> list[str]:
        return [x.input for x in self.inhibit_inputs]

    def mode_of(self, name: str) -> str:
        return next((x.mode for x in self.inhibit_inputs if x.input == name), "other")

    @field_validator("classes")
    @classmethod
    def _classes(cls, v: ClassMapConfig) -> ClassMapConfig:
        if "families" not in v.model_fields_set and not v.families:
            v = v.model_copy(update={"families": dict(DEFAULT_FAMILIES)})
        v.check_classes(LIFT_CLASSES)
        if not v.acting:
            raise ValueError("classes.acting is empty: the guard would never block")
        return v

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.door_input in self.inhibit_names:
            raise ValueError(f"input {self.door_input!r} cannot be both the door input and an inhibit input")
        if self.release_default_min > self.release_max_min:
            raise ValueError("release_default_min cannot be larger than release_max_min")
        unknown = [c for c in self.confirm.per_class if c not in LIFT_CLASSES]
        if unknown:
            raise ValueError(f"confirm.per_class: unknown class(es) {', '.join(unknown)}")
        if self.second_stage.bag_class not in LIFT_CLASSES:
            raise ValueError(f"second_stage.bag_class: {self.second_stage.bag_class!r} is not a lift class")
        if self.second_stage.bag_class in self.classes.acting:
            raise ValueError("second_stage.bag_class must not be an acting class (every bag would block)")
        unknown = [c for c in self.voice.class_prompts if c not in LIFT_CLASSES]
        if unknown:
            raise ValueError(f"voice.class_prompts: unknown class(es) {', '.join(unknown)}")
        return self
