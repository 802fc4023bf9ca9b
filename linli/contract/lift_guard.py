"""The ``lift_guard`` kind: lift e-bike guard events, commands and human names.

=====================  ========  ==========================================================================
type                   severity  data
=====================  ========  ==========================================================================
``lift.block``         warning   :class:`BlockStarted` — the door is held; snapshot blob attached
``lift.release``       info /    :class:`BlockEnded` — the door is let go, why, after how long. ``alarm`` when
                       alarm     the longest hold ran out (a work order)
``lift.suppress``      warning   :class:`Suppressed` — blocking paused by staff (remote or local), until when
``lift.resume``        info      :class:`Resumed` — blocking back on (pause over, or ended by command)
``lift.fault``         alarm     :class:`Fault` — camera lost / black / covered / frozen, detector, relay
``lift.fault_cleared`` info      :class:`FaultCleared`
``lift.classifier``    info /    :class:`ClassifierState` — the second-stage classifier loaded (version), turned
                       warning   off, or refused (the device runs the detector-only rule and says why)
=====================  ========  ==========================================================================
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .payloads import Severity
from .spec import PEOPLE, Args, Audience, CommandInfo, EventData, EventInfo, KindContract, Label, NoArgs
from .topics import Kind

ReleaseReason = Literal["cleared", "door_closed", "max_hold", "remote", "local", "fault", "schedule", "inhibit",
                        "shutdown"]
FaultKind = Literal["camera_lost", "black", "covered", "frozen", "detector", "relay_mismatch"]
Score = Annotated[float, Field(ge=0, le=1)]
Fraction = Annotated[float, Field(ge=0, le=1)]
BlockId = Annotated[str, Field(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$", description="ULID shared by the block's events")]


class SeenObject(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cls: str = Field(max_length=32, description="lift class after the class map")
    label: str = Field(max_length=64, description="the model's label")
    score: Score
    box: tuple[Fraction, Fraction, Fraction, Fraction] = Field(description="x1, y1, x2, y2 as fractions of the frame")
    track: int | None = Field(None, ge=0)


# ------------------------------------------------------------------------------------------------- events
class BlockStarted(EventData):
    EVENT = EventInfo("lift.block", "warning", "电梯阻止电动车", "Lift held: e-bike",
                      units={"track_s": "s", "latency_ms": "ms", "seen_ms": "ms"})
    block_id: BlockId
    cls: str = Field(max_length=32, description="the class that blocks (ebike, battery…)")
    label: str = Field(max_length=64)
    score: Score = Field(description="score of the confirming frame")
    scores: list[Score] = Field(max_length=100, description="the object's scores in the confirmation window")
    track_s: float = Field(ge=0, description="how long the object had been seen when the door was held")
    latency_ms: float = Field(ge=0, description="capture of the first frame in which the object stood on the car "
                              "floor → relay energised (accumulated evidence included)")
    seen_ms: float = Field(ge=0, description="capture of the first frame the object was detected in at all (any "
                           "score, e.g. still on the landing) → relay energised")
    objects: list[SeenObject] = Field(max_length=50, description="everything seen in the confirming frame")
    model: str = Field(max_length=200)
    relay: bool = Field(description="whether the hold relay was energised")
    classifier: str | None = Field(None, max_length=200, description="the second-stage classifier that ran "
                                   "(version@sha256[:12]); None: the detector-only rule")
    verdict: str | None = Field(None, max_length=32, description="the classifier's settled class for the object, "
                                "if it had one")
    crop: bool = Field(False, description="the second blob is the object's crop (JPEG, no drawing): what a "
                       "property manager labels and the site's classifier is trained on")


class BlockEnded(EventData):
    EVENT = EventInfo("lift.release", "info", "电梯解除阻止", "Lift released", units={"hold_s": "s"})
    block_id: BlockId
    reason: ReleaseReason
    hold_s: float = Field(ge=0, description="how long the door was held")
    cls: str = Field(max_length=32)
    best_score: Score
    by: str | None = Field(None, max_length=64, description="who released it (remote/local releases)")
    note: str | None = Field(None, max_length=200)
    fault: Literal["max_hold"] | None = Field(
        None, description="set on a longest-hold release (an alarm): the work order's fault key")

    def event_severity(self) -> Severity:
        return "alarm" if self.reason == "max_hold" else "info"

    def event_audience(self) -> Audience:
        return "manager" if self.reason == "max_hold" else "record"


class Suppressed(EventData):
    EVENT = EventInfo("lift.suppress", "warning", "暂停阻止", "Blocking paused", units={"minutes": "min"},
                      audience="manager")
    by: str = Field(max_length=64)
    origin: Literal["mqtt", "local", "max_hold"]
    until: AwareDatetime
    minutes: float = Field(gt=0)
    reason: str | None = Field(None, max_length=200)
    released_block: str | None = Field(None, description="block_id released by this pause, if one was on")


class Resumed(EventData):
    EVENT = EventInfo("lift.resume", "info", "恢复阻止", "Blocking resumed")
    why: Literal["expired", "command", "clear"]
    by: str | None = Field(None, max_length=64)


class Fault(EventData):
    EVENT = EventInfo("lift.fault", "alarm", "电梯卫士故障", "Lift guard fault")
    fault: FaultKind
    detail: str = Field(max_length=500)
    relay_released: bool
    luma: float | None = None
    contrast: float | None = None


class FaultCleared(EventData):
    EVENT = EventInfo("lift.fault_cleared", "info", "电梯卫士故障已恢复", "Lift guard fault cleared",
                      units={"duration_s": "s"})
    fault: FaultKind
    duration_s: float = Field(ge=0)


ClassifierStateName = Literal["loaded", "off", "fallback"]


class ClassifierState(EventData):
    EVENT = EventInfo("lift.classifier", "info", "电梯分类器", "Lift classifier", audience="manager")
    state: ClassifierStateName = Field(description="loaded: the classifier runs; off: none configured; fallback: "
                                       "configured but refused (detector-only rule)")
    version: str | None = Field(None, max_length=200, description="version@sha256[:12] of the classifier running")
    wanted: str | None = Field(None, max_length=200, description="the version the config asks for")
    reason: str | None = Field(None, max_length=500, description="why it fell back")

    def event_severity(self) -> Severity:
        return "warning" if self.state == "fallback" else "info"


EVENTS: tuple[type[EventData], ...] = (BlockStarted, BlockEnded, Suppressed, Resumed, Fault, FaultCleared,
                                       ClassifierState)
BLOCK = BlockStarted.EVENT.type
RELEASE = BlockEnded.EVENT.type
SUPPRESS = Suppressed.EVENT.type
RESUME = Resumed.EVENT.type
FAULT = Fault.EVENT.type
FAULT_CLEARED = FaultCleared.EVENT.type
CLASSIFIER = ClassifierState.EVENT.type
DATA_MODELS: dict[str, type[EventData]] = {m.EVENT.type: m for m in EVENTS}


# ----------------------------------------------------------------------------------------------- commands
class ReleaseArgs(Args):
    minutes: float | None = Field(None, gt=0, le=1440, description="pause length; default release_default_min")
    reason: str | None = Field(None, max_length=200, description="why (false alarm, delivery …), for the audit")


RELEASE_CMD = CommandInfo("release", ReleaseArgs, "解除阻止并暂停", "Release and pause blocking", PEOPLE, local=True)
RESUME_CMD = CommandInfo("resume", NoArgs, "恢复阻止", "Resume blocking", PEOPLE, local=True)
RESET_FAULTS_CMD = CommandInfo("reset_faults", NoArgs, "复位故障", "Reset faults", PEOPLE, local=True)
TEST_VOICE_CMD = CommandInfo("test_voice", NoArgs, "测试语音", "Test the voice prompt", PEOPLE, local=True)
TEST_RELAY_CMD = CommandInfo("test_relay", NoArgs, "测试继电器", "Test the hold relay", PEOPLE, local=True)
COMMANDS = (RELEASE_CMD, RESUME_CMD, RESET_FAULTS_CMD, TEST_VOICE_CMD, TEST_RELAY_CMD)

# ----------------------------------------------------------------------------------------- human names
FAULTS: dict[str, Label] = {
    "camera_lost": Label("摄像头断开", "Camera lost"),
    "black": Label("画面全黑", "Picture black"),
    "covered": Label("摄像头被遮挡", "Camera covered"),
    "frozen": Label("画面冻结", "Picture frozen"),
    "detector": Label("识别模型故障", "Detector failed"),
    "relay_mismatch": Label("继电器状态不符", "Relay does not follow"),
    "max_hold": Label("阻止超过最长时间", "Longest hold reached"),
}
RELEASE_REASONS: dict[str, Label] = {
    "cleared": Label("车辆已离开", "Vehicle gone"),
    "door_closed": Label("门已关闭", "Door closed"),
    "max_hold": Label("达到最长阻止时间", "Longest hold reached"),
    "remote": Label("远程解除", "Released remotely"),
    "local": Label("现场解除", "Released on site"),
    "fault": Label("故障解除", "Released on fault"),
    "schedule": Label("不在值守时段", "Outside guarded hours"),
    "inhibit": Label("外部禁止", "Inhibited"),
    "shutdown": Label("程序停止", "Shut down"),
}
STATES: dict[str, Label] = {
    "idle": Label("空闲", "Idle"),
    "watching": Label("监视中", "Watching"),
    "blocking": Label("正在阻止", "Blocking"),
    "paused": Label("已暂停", "Paused"),
    "disabled": Label("未值守", "Not guarding"),
    "fault": Label("故障", "Fault"),
}
GAUGES: dict[str, Label] = {
    "state": Label("状态", "State"),
    "door_open": Label("门开", "Door open"),
    "relay_on": Label("保持继电器", "Hold relay on"),
    "blocks": Label("阻止次数", "Blocks"),
    "max_hold_releases": Label("超时解除次数", "Longest-hold releases"),
    "staff_releases": Label("人工解除次数", "Staff releases"),
    "faults": Label("当前故障", "Active faults"),
    "paused": Label("已暂停", "Paused"),
    "last_latency_ms": Label("最近阻止延迟", "Last block latency", "ms"),
    "fps": Label("帧率", "Frame rate", "fps"),
    "detect_ms_p50": Label("识别耗时中位数", "Detection time (median)", "ms"),
    "frames": Label("已处理帧数", "Frames"),
    "detector_runs": Label("识别次数", "Detector runs"),
    "classifier": Label("第二级分类器版本", "Second-stage classifier version"),
    "classifier_state": Label("第二级分类器", "Second-stage classifier"),
    "classifier_crops": Label("分类器已判图块数", "Crops classified"),
}
CLASSIFIER_STATES: dict[str, Label] = {
    "off": Label("未启用（仅检测模型）", "Off (detector only)"),
    "loading": Label("下载/加载中（暂用检测模型）", "Loading (detector only meanwhile)"),
    "loaded": Label("运行中", "Running"),
    "fallback": Label("文件无效，已退回仅检测模型", "File refused: detector only"),
}

CONTRACT = KindContract(Kind.lift_guard, EVENTS, COMMANDS, FAULTS, STATES, GAUGES)
