"""Events every agent sends whatever its kind: the runtime's own (start, watchdog, commands, remote config).

======================  ========  ===========================================================================
type                    severity  data
======================  ========  ===========================================================================
``agent.started``       info      :class:`AgentStarted`
``watchdog.tripped``    alarm     :class:`WatchdogTripped` — a loop stopped; every relay dropped to safe
``watchdog.recovered``  info      :class:`WatchdogRecovered`
``cmd.executed``        info      :class:`CmdExecuted` — a command ran (its result)
``cmd.refused``         warning   :class:`CmdRefused` — refused (malformed, a safety check, a wrong state)
``cmd.failed``          warning   :class:`CmdFailed` — the handler failed or the command expired/was unknown
``config.applied``      info      :class:`ConfigApplied` — remote desired config taken
``config.refused``      warning   :class:`ConfigRefused` — remote desired config refused (the old one stays)
``update.progress``     info      :class:`UpdateProgress` — a software update's step (downloading, verified…)
``update.healthy``      info      :class:`UpdateHealthy` — the new version ran healthy long enough
``update.rolled_back``  alarm     :class:`UpdateRolledBack` — the new version was not healthy: old one back
``update.failed``       warning   :class:`UpdateFailed` — download, signature or install failed
``outbox.write_failed`` warning / :class:`OutboxWriteFailed` — the disk did not take the outbox's writes for a
                        alarm     while (alarm when messages were lost), sent when it writes again
``outbox.corrupt``      warning / :class:`OutboxCorrupt` — the outbox file was found damaged at start and set
                        alarm     aside (alarm when messages were lost or their number is unknown)
======================  ========  ===========================================================================
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field

from .payloads import Severity
from .spec import EventData, EventInfo, Label


class AgentStarted(EventData):
    EVENT = EventInfo("agent.started", "info", "设备程序已启动", "Agent started")
    software: str = Field(max_length=200)
    config_version: str | None = Field(None, max_length=200)
    hostname: str | None = Field(None, max_length=200)


class WatchdogTripped(EventData):
    EVENT = EventInfo("watchdog.tripped", "alarm", "看门狗触发：继电器已复位", "Watchdog tripped: relays safe",
                      units={"stale_s": "s", "timeout_s": "s"})
    loop: str = Field(max_length=64)
    stale_s: float = Field(ge=0)
    timeout_s: float | None = Field(None, ge=0)
    action: Literal["relays_safe"] = "relays_safe"


class WatchdogRecovered(EventData):
    EVENT = EventInfo("watchdog.recovered", "info", "看门狗恢复", "Watchdog recovered")
    loop: str = Field(max_length=64)


class _CmdOutcome(EventData):
    id: str | None = Field(None, max_length=64)
    name: str = Field(max_length=64)
    by: str | None = Field(None, max_length=64)
    origin: Literal["mqtt", "local"]
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = Field(None, max_length=2000)

    def to_data(self) -> dict[str, Any]:
        """``result`` when it ran, ``error`` when not: the one that is None is left out."""
        return self.model_dump(mode="json", exclude_none=True)


class CmdExecuted(_CmdOutcome):
    EVENT = EventInfo("cmd.executed", "info", "指令已执行", "Command executed")


class CmdRefused(_CmdOutcome):
    EVENT = EventInfo("cmd.refused", "warning", "指令被拒绝", "Command refused")


class CmdFailed(_CmdOutcome):
    EVENT = EventInfo("cmd.failed", "warning", "指令执行失败", "Command failed")


CMD_OUTCOMES: dict[str, type[_CmdOutcome]] = {"ok": CmdExecuted, "refused": CmdRefused}


def cmd_outcome_model(outcome: str) -> type[_CmdOutcome]:
    """The event model for a command's outcome (``ok``, ``refused``, anything else is a failure)."""
    return CMD_OUTCOMES.get(outcome, CmdFailed)


class ConfigApplied(EventData):
    EVENT = EventInfo("config.applied", "info", "远程配置已生效", "Remote config applied")
    version: int = Field(ge=0)
    by: str = Field(max_length=64)


class ConfigRefused(EventData):
    EVENT = EventInfo("config.refused", "warning", "远程配置被拒绝", "Remote config refused")
    version: int = Field(ge=0)
    by: str = Field(max_length=64)
    error: str | None = Field(None, max_length=4000)


Version = Annotated[str, Field(max_length=64)]
Rollout = Annotated[int, Field(ge=0, le=2**62)]


class UpdateProgress(EventData):
    EVENT = EventInfo("update.progress", "info", "软件更新进度", "Software update progress")
    version: Version
    step: Literal["downloading", "verified", "installed"]
    rollout: Rollout | None = None
    slot: str | None = Field(None, max_length=200)


class UpdateHealthy(EventData):
    EVENT = EventInfo("update.healthy", "info", "软件更新成功", "Software update healthy")
    version: Version
    from_version: Version | None = None
    rollout: Rollout | None = None


class UpdateRolledBack(EventData):
    EVENT = EventInfo("update.rolled_back", "alarm", "软件更新已回退", "Software update rolled back")
    version: Version | None = None
    running: Version | None = None
    reason: str | None = Field(None, max_length=500)
    rollout: Rollout | None = None


class UpdateFailed(EventData):
    EVENT = EventInfo("update.failed", "warning", "软件更新失败", "Software update failed")
    version: Version
    running: Version
    reason: str = Field(max_length=500)
    rollout: Rollout | None = None


UPDATE_EVENTS: tuple[type[EventData], ...] = (UpdateProgress, UpdateHealthy, UpdateRolledBack, UpdateFailed)

Count = Annotated[int, Field(ge=0, le=2**62)]


class OutboxWriteFailed(EventData):
    EVENT = EventInfo("outbox.write_failed", "warning", "消息缓存写入失败", "Outbox could not write")
    error: str = Field(max_length=200)
    since: AwareDatetime
    kept: Count = Field(description="messages held in memory meanwhile and sent")
    lost: Count = Field(description="messages lost in this spell")
    lost_total: Count = Field(description="messages lost since the outbox was created")

    def event_severity(self) -> Severity:
        return "alarm" if self.lost else "warning"


class OutboxCorrupt(EventData):
    EVENT = EventInfo("outbox.corrupt", "warning", "消息缓存文件损坏", "Outbox file damaged")
    moved_to: str = Field(max_length=500)
    error: str = Field(max_length=200)
    recovered: Count
    lost: Count | None = Field(None, description="None: how many were lost is not known")
    lost_known: bool

    def event_severity(self) -> Severity:
        return "warning" if self.lost == 0 else "alarm"

EVENTS: tuple[type[EventData], ...] = (AgentStarted, WatchdogTripped, WatchdogRecovered, CmdExecuted, CmdRefused,
                                       CmdFailed, ConfigApplied, ConfigRefused, *UPDATE_EVENTS, OutboxWriteFailed,
                                       OutboxCorrupt)

#: States every agent may report (``App.state()`` default and runtime states).
STATES: dict[str, Label] = {
    "running": Label("运行中", "Running"),
    "online": Label("在线", "Online"),
    "offline": Label("离线", "Offline"),
    "stopping": Label("正在停止", "Stopping"),
}

#: Health figures every agent sends with its telemetry.
HEALTH: dict[str, Label] = {
    "cpu_pct": Label("CPU 占用", "CPU use", "%"),
    "mem_pct": Label("内存占用", "Memory use", "%"),
    "rss_mb": Label("程序内存", "Process memory", "MB"),
    "disk_pct": Label("磁盘占用", "Disk use", "%"),
    "soc_temp_c": Label("芯片温度", "SoC temperature", "°C"),
    "fps": Label("帧率", "Frame rate", "fps"),
    "outbox_depth": Label("待发消息", "Messages waiting"),
    "outbox_dropped": Label("丢弃消息", "Messages dropped"),
    "uptime_s": Label("运行时长", "Uptime", "s"),
}
