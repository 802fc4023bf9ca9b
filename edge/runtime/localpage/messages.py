"""Texts of the local page: Simplified Chinese first, English second."""

from __future__ import annotations

from linli.i18n import Catalog

MESSAGES: dict[str, tuple[str, str]] = {
    "title": ("设备维护", "Device maintenance"),
    "nav_status": ("状态", "Status"),
    "nav_io": ("输入输出", "IO"),
    "nav_events": ("事件", "Events"),
    "nav_logs": ("日志", "Logs"),
    "nav_config": ("配置", "Config"),
    "lang_other": ("English", "中文"),
    "refresh": ("刷新", "Refresh"),
    "device": ("设备", "Device"),
    "site": ("小区", "Site"),
    "kind": ("类型", "Kind"),
    "state": ("运行状态", "State"),
    "mqtt": ("服务器连接", "Server link"),
    "connected": ("已连接", "connected"),
    "disconnected": ("未连接", "not connected"),
    "outbox": ("待发消息", "Outbox"),
    "outbox_detail": ("{depth} 条待发，已丢弃 {dropped} 条遥测", "{depth} waiting, {dropped} telemetry dropped"),
    "uptime": ("运行时间", "Uptime"),
    "started": ("启动时间", "Started"),
    "software": ("软件版本", "Software"),
    "config_version": ("配置版本", "Config version"),
    "hostname": ("主机名", "Host name"),
    "watchdog": ("看门狗", "Watchdog"),
    "wd_ok": ("正常", "OK"),
    "wd_tripped": ("已触发：继电器已断开", "TRIPPED: relays are off"),
    "health": ("运行指标", "Health"),
    "cpu": ("CPU", "CPU"),
    "memory": ("内存", "Memory"),
    "disk": ("磁盘", "Disk"),
    "temperature": ("芯片温度", "SoC temperature"),
    "gauges": ("设备指标", "Device figures"),
    "app": ("设备功能", "Device functions"),
    "last_error": ("最近错误", "Last error"),
    "remote_config": ("远程配置", "Remote config"),
    "relays": ("继电器", "Relays"),
    "inputs": ("输入", "Inputs"),
    "other_parts": ("其他部件", "Other parts"),
    "name": ("名称", "Name"),
    "pin": ("引脚", "Pin"),
    "on": ("吸合", "ON"),
    "off": ("断开", "off"),
    "active": ("有效", "active"),
    "inactive": ("无效", "inactive"),
    "readback": ("回读", "Read-back"),
    "none": ("无", "none"),
    "time": ("时间", "Time"),
    "type": ("类型", "Type"),
    "severity": ("级别", "Severity"),
    "data": ("内容", "Data"),
    "no_events": ("暂无事件", "No events yet"),
    "level": ("级别", "Level"),
    "message": ("消息", "Message"),
    "no_logs": ("暂无日志", "No log lines yet"),
    "log_level": ("级别", "Level"),
    "lv_all": ("全部", "all"),
    "lv_INFO": ("信息及以上", "info and worse"),
    "lv_WARNING": ("警告及以上", "warnings and worse"),
    "lv_ERROR": ("错误及以上", "errors and worse"),
    "lv_CRITICAL": ("严重", "critical"),
    "show": ("显示", "Show"),
    "sev_info": ("信息", "info"),
    "sev_warning": ("警告", "warning"),
    "sev_alarm": ("报警", "alarm"),
    "cmd_ok": ("操作“{name}”已执行", "“{name}” done"),
    "cmd_fail": ("操作“{name}”未执行：{error}", "“{name}” not done: {error}"),
    "logged_in_as": ("当前用户：{user}", "Signed in as {user}"),
    "times_note": ("时间均为北京时间", "Times are Shanghai time"),
    "kind_lift_guard": ("电梯阻车", "Lift e-bike guard"),
    "kind_gate": ("道闸", "Barrier gate"),
    "kind_charger": ("充电桩", "Charging pile"),
    "kind_taxi_kiosk": ("一键叫车屏", "Taxi kiosk"),
    "kind_probe": ("调试探头", "Commissioning probe"),
    "snapshot": ("快照", "Snapshot"),
}

CATALOG = Catalog(MESSAGES)


def fmt_duration(seconds: float | None, lang: str) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if lang == "en":
        parts = [f"{d} d"] * bool(d) + [f"{h} h"] * bool(h) + [f"{m} min"] * bool(m and not d)
        return " ".join(parts) or f"{sec} s"
    parts = [f"{d} 天"] * bool(d) + [f"{h} 小时"] * bool(h) + [f"{m} 分"] * bool(m and not d)
    return " ".join(parts) or f"{sec} 秒"
