"""What people read instead of machine text: the one place pages, charts, work orders and CSV exports turn the
contract's identifiers (event types, fault keys, states, gauges, commands, audit actions, data fields) and raw
values (``True``/``None``, Python error texts) into Simplified Chinese or English, with units.

Names come from the contract (``linli.contract``: each kind declares them next to the definitions); the few
server-side identifiers (audit actions, work-order steps, data fields shown in detail lists) are declared here.
Templates get a :class:`Humanizer` for the page's language as ``h`` (``h.event(type)``, ``h.gauge(kind, name,
value)``…); CSV exports make one with the request's language.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from linli import contract
from linli.contract import Kind, Label, runtime
from linli.contract import charger as charger_contract
from linli.i18n import Lang

#: Identifiers only the server uses (work orders opened for an offline device, audit actions…).
SERVER_NAMES: dict[str, Label] = {
    "device.offline": Label("设备离线", "Device offline"),
    "manual": Label("人工报修", "Reported by a person"),
    # audit actions
    "login": Label("登录", "Signed in"),
    "logout": Label("退出登录", "Signed out"),
    "login.refused": Label("登录被拒绝", "Sign-in refused"),
    "password.change": Label("修改密码", "Password changed"),
    "user.create": Label("新建用户", "User created"),
    "user.update": Label("修改用户", "User changed"),
    "user.password": Label("重置密码", "Password reset"),
    "command.send": Label("下发指令", "Command sent"),
    "command.create": Label("下发指令", "Command sent"),
    "config.set": Label("修改远程配置", "Remote config changed"),
    "config.desired": Label("修改远程配置", "Remote config changed"),
    "workorder.open": Label("新建工单", "Work order opened"),
    "workorder.dispatch": Label("派单", "Work order dispatched"),
    "workorder.handle": Label("处置工单", "Work order handled"),
    "workorder.verify": Label("核查工单", "Work order verified"),
    "workorder.reject": Label("退回工单", "Work order rejected"),
    "workorder.close": Label("结案", "Work order closed"),
    "workorder.cancel": Label("撤销工单", "Work order cancelled"),
    "workorder.note": Label("工单备注", "Work order note"),
    "workorder.photo": Label("上传工单照片", "Work order photo added"),
    "workorder.overdue": Label("工单超时督办", "Work order overdue"),
    "workorder.acknowledge": Label("确认工单", "Work order acknowledged"),
    "workorder.clear": Label("清除工单告警", "Work order cleared"),
    "alert.acknowledge": Label("确认告警", "Alert acknowledged"),
    "alert.clear": Label("清除告警", "Alert cleared"),
    "scope.refused": Label("越权访问被拒绝", "Access to another site refused"),
    "release.upload": Label("上传软件版本", "Release uploaded"),
    "rollout.create": Label("发起软件更新", "Update rollout started"),
    "rollout.pause": Label("暂停软件更新", "Update rollout paused"),
    "rollout.resume": Label("继续软件更新", "Update rollout resumed"),
    "rollout.abort": Label("中止软件更新", "Update rollout aborted"),
}

#: Names of data fields shown in detail lists (event data, audit details, alert details).
FIELDS: dict[str, Label] = {
    "plate": Label("车牌", "Plate"), "lane": Label("车道", "Lane"), "door": Label("门", "Door"),
    "direction": Label("方向", "Direction"), "port": Label("端口", "Port"), "reason": Label("原因", "Reason"),
    "seconds": Label("持续时间", "Duration", "s"), "minutes": Label("时长", "Duration", "min"),
    "by": Label("操作人", "By"), "label": Label("备注名", "Label"), "fault": Label("故障", "Fault"),
    "snapshot": Label("抓拍", "Snapshot"), "note": Label("说明", "Note"), "assignee": Label("处理人", "Assignee"),
    "state": Label("状态", "State"), "severity": Label("级别", "Severity"), "source": Label("来源", "Source"),
    "event_id": Label("事件编号", "Event number"), "device_id": Label("设备编号", "Device number"),
    "photos": Label("照片", "Photos"), "deadline": Label("期限", "Deadline"), "due": Label("到期时间", "Due"),
    "name": Label("名称", "Name"), "role": Label("角色", "Role"), "sites": Label("小区", "Sites"),
    "site": Label("小区", "Site"), "type": Label("类型", "Type"), "args": Label("参数", "Arguments"),
    "error": Label("错误", "Error"), "detail": Label("详情", "Detail"), "ip": Label("来源地址", "Address"),
    "version": Label("版本", "Version"), "active": Label("启用", "Active"), "result": Label("结果", "Result"),
    "amount_cents": Label("金额", "Amount", "fen"), "fee_cents": Label("应收", "Fee", "fen"),
    "paid_cents": Label("已付", "Paid", "fen"), "hold_s": Label("阻止时长", "Hold", "s"),
    "decision": Label("处理", "Decision"), "category": Label("类别", "Category"), "method": Label("方式", "Method"),
    "granted": Label("放行", "Granted"), "command": Label("指令", "Command"), "path": Label("地址", "Path"),
    "offline_since": Label("离线时间", "Offline since"), "online_since": Label("上线时间", "Online since"),
    "action": Label("操作", "Action"), "target": Label("对象", "Target"), "kind": Label("设备类型", "Kind"),
    "device": Label("设备", "Device"), "sha256": Label("文件校验值", "File checksum"),
}

#: Values of fields that are themselves identifiers (directions, decisions, categories…).
VALUES: dict[str, Label] = {
    "entry": Label("入场", "Entry"), "exit": Label("出场", "Exit"),
    "open": Label("放行", "Open"), "deny": Label("拒绝", "Denied"), "guard": Label("岗亭处理", "Guard"),
    "pay": Label("待缴费", "To pay"), "resident": Label("业主", "Resident"), "visitor": Label("访客", "Visitor"),
    "temporary": Label("临时车", "Temporary"), "blacklist": Label("黑名单", "Blacklist"),
    "unknown": Label("未知", "Unknown"), "card": Label("刷卡", "Card"), "qr": Label("二维码", "QR code"),
    "button": Label("按钮", "Button"), "remote": Label("远程", "Remote"), "fire": Label("消防", "Fire"),
    "ok": Label("成功", "OK"), "refused": Label("拒绝", "Refused"), "failed": Label("失败", "Failed"),
    "mqtt": Label("远程", "Remote"), "local": Label("现场", "On site"), "max_hold": Label("超过最长阻止时间",
                                                                                    "Longest hold reached"),
    "event": Label("设备告警", "Device alarm"), "offline": Label("设备离线", "Device offline"),
    "lpr_push": Label("车牌相机", "Plate camera"), "camera": Label("相机", "Camera"),
    "admin": Label("管理员", "Administrator"), "manager": Label("物业经理", "Manager"),
    "maintenance": Label("维修人员", "Maintenance"), "system": Label("系统", "System"),
    "respond": Label("响应", "Response"), "fix": Label("修复", "Fix"),
    "alarm": Label("告警", "Alarm"), "warning": Label("警告", "Warning"), "info": Label("信息", "Info"),
    "received": Label("已受理", "Received"), "dispatched": Label("已派遣", "Dispatched"),
    "handled": Label("已处置", "Handled"), "verified": Label("已核查", "Verified"), "closed": Label("已结案", "Closed"),
    "denied": Label("拒绝", "Denied"),
    **charger_contract.STOP_REASONS,
}

#: Python / OS error texts → a sentence people understand (the raw text stays in a details element).
_ERRORS: tuple[tuple[re.Pattern[str], Label], ...] = tuple((re.compile(p, re.I), lab) for p, lab in (
    (r"No such file|FileNotFoundError|ENOENT", Label("找不到设备文件（检查接线或配置）",
                                                     "A device file is missing (check wiring or configuration)")),
    (r"Permission denied|PermissionError|EACCES", Label("没有访问设备的权限", "No permission to use the device")),
    (r"timed? ?out|TimeoutError", Label("设备响应超时", "The device did not answer in time")),
    (r"Connection refused|ConnectionRefused", Label("连接被拒绝", "The connection was refused")),
    (r"Connection reset|Broken pipe|ConnectionError|unreachable", Label("连接中断", "The connection broke")),
    (r"No space left|ENOSPC", Label("磁盘已满", "The disk is full")),
    (r"Input/output error|EIO|SerialException|serial", Label("串口通信失败", "Serial link failed")),
    (r"(Value|Type|Key|Index|Attribute|Runtime|OS)Error|Exception|Traceback|\[Errno",
     Label("设备程序出错", "The device software reported an error")),
))
_RAW_ERROR = re.compile(r"\[Errno \d+\]|\b[A-Z][A-Za-z]*(Error|Exception)\b|Traceback")
_IDENT = re.compile(r"^[a-z][a-z0-9]*([._][a-z0-9]+)+$")
_GAUGE_PORT = re.compile(r"^p(\d+)_")
_EVENT_LABELS: dict[str, Label] = {t: m.EVENT.label for t, m in contract.all_event_models().items()}
_EVENT_UNITS: dict[str, Mapping[str, str]] = {t: m.EVENT.units for t, m in contract.all_event_models().items()}
_KINDS = {k.value: Label(zh, en) for k, zh, en in (
    (Kind.probe, "测试设备", "Test device"), (Kind.lift_guard, "电梯卫士", "Lift guard"),
    (Kind.gate, "道闸门禁", "Gates and doors"), (Kind.charger, "充电桩", "Charging pile"),
    (Kind.taxi_kiosk, "叫车终端", "Taxi kiosk"))}
UNITS: dict[str, Label] = {"fen": Label("分", "fen"), "ratio": Label("", ""), "min": Label("分钟", "min"),
                           "s": Label("秒", "s")}


def is_raw_error(text: str) -> bool:
    """Whether a text reads like a Python or OS error rather than a sentence for people."""
    return bool(_RAW_ERROR.search(text))


#: Who did something, when it was not a person signed in: the server's own services and the residents' pay flow.
_ACTORS: dict[str, Label] = {
    "system": Label("系统", "System"),
    "server": Label("系统", "System"),
    "settings": Label("系统设置", "Settings file"),
    "resident:pay": Label("住户（扫码支付）", "Resident (paid by QR code)"),
    "server:gate-sync": Label("系统（名单同步）", "System (list sync)"),
    "server:billing": Label("系统（计费）", "System (billing)"),
}
#: Prefixed actors with an id: ``rollout:12`` → 软件更新批次 12.
_ACTOR_PREFIXES: dict[str, Label] = {"rollout": Label("软件更新批次", "Software rollout")}


@dataclass(frozen=True)
class Humanizer:
    lang: Lang = "zh"

    # ---------------------------------------------------------------- names
    def _text(self, lab: Label | None) -> str | None:
        return lab.text(self.lang) if lab is not None else None

    def _fallback(self, key: str) -> str:
        """An identifier nobody declared (a test device's own fault, a newer agent's event): its words, without
        the underscores and dots of a key, so that it still says something and never reads as code."""
        if _IDENT.match(key):
            return key.replace("_", " ").replace(".", " ")
        return key

    def event(self, type_: str) -> str:
        """An event type's name (``gate.passage`` → 车辆通行)."""
        return self._text(_EVENT_LABELS.get(type_) or SERVER_NAMES.get(type_)) or self._fallback(type_)

    def kind(self, kind: str) -> str:
        return self._text(_KINDS.get(kind)) or kind

    def _lookup(self, kind: str | None, table: contract.Table, key: str) -> Label | None:
        kinds = [kind] if kind in _KINDS else list(_KINDS)
        for k in kinds:
            lab = contract.label(k, table, key)  # type: ignore[arg-type]
            if lab is not None:
                return lab
        return None

    def fault(self, kind: str | None, key: str) -> str:
        """A work order's fault: a fault key of the kind, an event type, or what a person typed."""
        lab = (self._lookup(kind, "faults", key) or _EVENT_LABELS.get(key) or SERVER_NAMES.get(key)
               or VALUES.get(key))
        if lab is not None:
            return lab.text(self.lang)
        if is_raw_error(key):
            return self.error(key)
        return self._fallback(key)

    def state(self, kind: str | None, key: str | None) -> str:
        if key is None or key == "":
            return "—"
        lab = self._lookup(kind, "states", key) or VALUES.get(key)
        return self._text(lab) or self._fallback(key)

    def actor(self, who: str | None) -> str:
        """Who sent a command, changed a config or wrote a log line: a person's sign-in name as it is, the server's
        own services and the residents' pay flow in words (never ``resident:pay``)."""
        if not who:
            return "—"
        lab = _ACTORS.get(who)
        if lab is not None:
            return lab.text(self.lang)
        head, sep, tail = who.partition(":")
        if sep and head in _ACTOR_PREFIXES:
            return f"{_ACTOR_PREFIXES[head].text(self.lang)} {tail}"
        if sep:  # an unknown service name: its words, not its key
            return self._fallback(head)
        return who

    def command(self, kind: str | None, name: str) -> str:
        kinds = [kind] if kind in _KINDS else list(_KINDS)
        for k in kinds:
            info = contract.command_info(k, name)
            if info is not None:
                return info.label.text(self.lang)
        return self._fallback(name)

    def action(self, name: str) -> str:
        """An audit action (``workorder.dispatch`` → 派单)."""
        lab = SERVER_NAMES.get(name) or _EVENT_LABELS.get(name)
        if lab is None and "." in name:
            head, _, tail = name.partition(".")
            lab = SERVER_NAMES.get(f"{head}.{tail.split('.')[-1]}")
        return self._text(lab) or self._fallback(name)

    def field(self, name: str) -> str:
        return self._text(FIELDS.get(name)) or self._fallback(name)

    def gauge_name(self, kind: str | None, name: str) -> str:
        """``p3_w`` → 3 号插座功率 / Port 3 power."""
        lab = self._lookup(kind, "gauges", name) or runtime.HEALTH.get(name)
        if lab is None:
            return self._fallback(name)
        text = lab.text(self.lang)
        m = _GAUGE_PORT.match(name)
        if m and any("*" in p and fnmatch.fnmatchcase(name, p) for p in _gauge_patterns(kind)):
            port = m.group(1)
            if self.lang == "zh":
                return f"{port} 号{text}" if text.startswith("端口") else f"{port} 号端口{text}"
            rest = text.removeprefix("Port ")
            return f"Port {port} {rest[:1].lower()}{rest[1:]}"
        return text

    def unit(self, unit: str | None) -> str:
        if not unit:
            return ""
        lab = UNITS.get(unit)
        return lab.text(self.lang) if lab is not None else unit

    # ---------------------------------------------------------------- values
    def value(self, v: Any, unit: str | None = None) -> str:
        """A value as people read it: 是/否 for booleans, — for nothing, numbers trimmed, with the unit."""
        if v is None or v == "":
            return "—"
        if isinstance(v, bool):
            return ("是" if v else "否") if self.lang == "zh" else ("yes" if v else "no")
        if unit == "fen" and isinstance(v, int | float):
            return f"¥{v / 100:.2f}"
        if isinstance(v, float):
            v = round(v, 2)
            text = f"{v:g}" if abs(v) < 1e15 else str(v)
        elif isinstance(v, int):
            text = str(v)
        elif isinstance(v, str):
            if unit == "s" and v.replace(".", "", 1).isdigit():
                text = v
            else:
                lab = VALUES.get(v)
                text = lab.text(self.lang) if lab is not None else (self.error(v) if is_raw_error(v) else
                                                                    self._fallback(v))
        elif isinstance(v, list | tuple):
            return "、".join(self.value(x) for x in v) if self.lang == "zh" else ", ".join(self.value(x) for x in v)
        elif isinstance(v, dict):
            return "; ".join(f"{self.field(k)}: {self.value(x)}" for k, x in v.items())
        else:
            text = str(v)
        u = self.unit(unit)
        if unit == "ratio" and isinstance(v, int | float):
            return f"{v * 100:.0f}%"
        return f"{text} {u}" if u else text

    def gauge(self, kind: str | None, name: str, value: Any) -> str:
        """``p3_w``, 120 → 3 号端口功率 120 W; ``mcu_ok``, True → 控制板正常: 是."""
        lab = self._lookup(kind, "gauges", name) or runtime.HEALTH.get(name)
        unit = lab.unit if lab is not None else None
        sep = "：" if self.lang == "zh" else ": "
        if isinstance(value, bool) or value is None:
            return f"{self.gauge_name(kind, name)}{sep}{self.value(value)}"
        if name.endswith("_state") and isinstance(value, str):
            return f"{self.gauge_name(kind, name)}{sep}{self.state(kind, value)}"
        return f"{self.gauge_name(kind, name)} {self.value(value, unit)}"

    def fields(self, data: Mapping[str, Any] | None, type_: str | None = None,
               exclude: Iterable[str] = ()) -> list[tuple[str, str]]:
        """A data dict as (label, value) pairs, units from the event type's declaration."""
        if not isinstance(data, Mapping) or not data:
            return []
        units = dict(_EVENT_UNITS.get(type_ or "", {}))
        skip = set(exclude)
        out = []
        for k, v in data.items():
            if k in skip:
                continue
            lab = FIELDS.get(k)
            unit = units.get(k) or (lab.unit if lab is not None else None)
            if k in ("action",) and isinstance(v, str):
                shown = self.action(v)
            elif k in ("fault",) and isinstance(v, str):
                shown = self.fault(None, v)
            elif k in ("type",) and isinstance(v, str):
                shown = self.event(v)
            else:
                shown = self.value(v, unit)
            out.append((self.field(k), shown))
        return out

    def gauge_value(self, kind: str | None, name: str, value: Any) -> str:
        """Only the value of a gauge or health figure, with its unit (``120 W``, ``是``, ``空闲``)."""
        lab = self._lookup(kind, "gauges", name) or runtime.HEALTH.get(name)
        if name.endswith("state") and isinstance(value, str):
            return self.state(kind, value)
        return self.value(value, lab.unit if lab is not None else None)

    def summary(self, data: Mapping[str, Any] | None, type_: str | None = None) -> str:
        """A data dict in one line (``车道：in1；持续时间：12 秒``), for tooltips and CSV cells."""
        sep = "；" if self.lang == "zh" else "; "
        kv = "：" if self.lang == "zh" else ": "
        return sep.join(f"{k}{kv}{v}" for k, v in self.fields(data, type_))[:300]

    def error(self, text: str | None) -> str:
        """A raw error text (``[Errno 2] No such file…``) as a sentence; other texts unchanged."""
        if not text:
            return "—"
        if not is_raw_error(text):
            return text
        for pat, lab in _ERRORS:
            if pat.search(text):
                return lab.text(self.lang)
        return _ERRORS[-1][1].text(self.lang)

    def any(self, key: str) -> str:
        """Any identifier: event type, server name, fault, state or value of any kind (for ``t()``'s fallback)."""
        lab = (_EVENT_LABELS.get(key) or SERVER_NAMES.get(key) or _KINDS.get(key) or self._lookup(None, "faults", key)
               or self._lookup(None, "states", key) or VALUES.get(key))
        return self._text(lab) or (self.error(key) if is_raw_error(key) else self._fallback(key))


def _gauge_patterns(kind: str | None) -> Iterable[str]:
    kinds = [kind] if kind in _KINDS else list(_KINDS)
    for k in kinds:
        yield from contract.KINDS[Kind(k)].gauges


HUMANIZERS: dict[str, Humanizer] = {"zh": Humanizer("zh"), "en": Humanizer("en")}


def humanizer(lang: Lang) -> Humanizer:
    return HUMANIZERS.get(lang, HUMANIZERS["zh"])
