"""The lift guard's fragment of the local maintenance page (Chinese first): state, live picture with region and
boxes, last blocks with their snapshots, what the model cannot see, and the safe test actions."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from jinja2 import Environment, FileSystemLoader, select_autoescape

from linli.contract.lift_guard import CLASSIFIER_STATES
from linli.i18n import Catalog, Lang, fmt_time

from ..config import LIFT_MODE_NAMES
from ..evidence import Record

_env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)

CATALOG = Catalog({
    "state": ("当前状态", "State"),
    "st_idle": ("空闲（门关）", "idle (door closed)"),
    "st_watching": ("监视中（门开）", "watching (door open)"),
    "st_blocking": ("阻止中：保持开门", "BLOCKING: door held open"),
    "st_paused": ("已暂停阻止", "blocking paused"),
    "st_fault": ("故障：继电器已释放", "FAULT: relay released"),
    "st_disabled": ("未启用（时段/电梯非正常运行）", "disabled (schedule / lift not in normal service)"),
    "door": ("轿门", "Car door"),
    "open": ("开", "open"),
    "closed": ("关", "closed"),
    "relay": ("保持开门继电器", "Hold-door relay"),
    "on": ("吸合", "ON"),
    "off": ("释放", "off"),
    "readback": ("回读", "read-back"),
    "block": ("本次阻止", "Current block"),
    "block_detail": ("{cls}，最高置信度 {score}，已保持 {hold} 秒", "{cls}, best score {score}, held {hold} s"),
    "pause": ("暂停至", "Paused until"),
    "pause_by": ("操作人 {by}", "by {by}"),
    "faults": ("故障", "Faults"),
    "f_camera_lost": ("摄像头无画面", "camera lost"),
    "f_black": ("画面全黑", "view black"),
    "f_covered": ("镜头被遮挡", "lens covered"),
    "f_frozen": ("画面冻结", "picture frozen"),
    "f_detector": ("识别模型故障", "detector fault"),
    "f_relay_mismatch": ("继电器回读不一致", "relay read-back mismatch"),
    "inhibited": ("电梯非正常运行", "Lift not in normal service"),
    "suspect": ("画面可疑（未满故障时间，暂停识别）", "View suspect (not yet a fault; detection paused)"),
    "live": ("实时画面", "Live picture"),
    "live_none": ("暂无画面。", "No picture yet."),
    "live_note": ("黄色框为识别区域；红框为阻止类别，绿框为其他。{at} · {fps} 帧/秒 · 识别 {ms} 毫秒",
                  "Yellow: the region; red boxes block, green ones do not. {at} · {fps} fps · detection {ms} ms"),
    "seen": ("识别到", "Seen"),
    "model": ("识别模型", "Model"),
    "classifier": ("本小区二级分类器", "Site classifier"),
    "model_limits": ("默认模型（COCO）没有“电动车”类别：以两轮车（自行车/摩托车）代替电动车识别，普通自行车也会被阻止；"
                     "看不到单独携带的电池（包里、手里）。需要识别电池请换用专门训练的模型。",
                     "The default (COCO) model has no e-bike class: a two-wheeler (bicycle or motorcycle) stands in "
                     "for an e-bike, so pedal bicycles are blocked too; it cannot see a loose battery (in a bag or "
                     "a hand). Use a fine-tuned model to detect batteries."),
    "blocking_classes": ("阻止类别", "Blocking classes"),
    "recent": ("最近阻止记录", "Last blocks"),
    "none": ("暂无阻止记录。", "No blocks yet."),
    "time": ("时间", "Time"),
    "cls": ("类别", "Class"),
    "score": ("置信度", "Score"),
    "hold": ("保持（秒）", "Held (s)"),
    "reason": ("解除原因", "Released because"),
    "snapshot": ("抓拍", "Snapshot"),
    "still_on": ("进行中", "ongoing"),
    "r_cleared": ("已离开", "left the car"),
    "r_door_closed": ("门已关", "door closed"),
    "r_max_hold": ("超过最长保持", "longest hold reached"),
    "r_remote": ("远程解除", "released remotely"),
    "r_local": ("现场解除", "released on site"),
    "r_fault": ("故障", "fault"),
    "r_schedule": ("时段结束", "schedule"),
    "r_inhibit": ("电梯非正常运行", "lift not in normal service"),
    "r_shutdown": ("程序停止", "agent stopped"),
    "actions": ("维护操作", "Maintenance"),
    "test_voice": ("测试语音", "Test voice"),
    "test_relay": ("测试继电器 {s} 秒", "Test relay {s} s"),
    "release": ("解除并暂停 {m} 分钟", "Release and pause {m} min"),
    "reason_ph": ("原因（如：误报、搬运轮椅）", "Reason (e.g. false alarm, wheelchair)"),
    "resume": ("恢复阻止", "Resume blocking"),
    "reset_faults": ("复位继电器故障", "Reset relay fault"),
    "test_hint": ("测试只在轿厢停靠且门开时执行（门关时轿厢可能运行，会被拒绝）。",
                  "Tests run only while the car stands with its door open (refused when the car may move)."),
    "schedule_always": ("全天启用", "always on"),
    "schedule": ("启用时段", "Schedule"),
    "max_hold": ("最长保持 {s} 秒，之后释放并告警", "Longest hold {s} s, then release and alarm"),
})

CLASS_NAMES = {"ebike": ("电动车", "e-bike"), "battery": ("电池", "battery"), "bicycle": ("自行车", "bicycle"),
               "person": ("行人", "person"), "stroller": ("婴儿车", "stroller"), "wheelchair": ("轮椅", "wheelchair"),
               "cart": ("手推车", "cart"), "scooter": ("滑板车", "scooter"), "other": ("其他", "other")}
STATE_TONE = {"blocking": "bad", "fault": "bad", "paused": "warn", "disabled": "muted", "watching": "good",
              "idle": "muted"}


def class_name(cls: str, lang: Lang) -> str:
    zh, en = CLASS_NAMES.get(cls, (cls, cls))
    return en if lang == "en" else zh


def thumbnail(path: Path | None, width: int = 240) -> str | None:
    """A small JPEG data URI of a stored snapshot (the page is self-contained; no extra routes needed)."""
    if path is None:
        return None
    try:
        img = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)
    except (OSError, ValueError):
        return None
    if img is None:
        return None
    h, w = img.shape[:2]
    if w > width:
        img = cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 75])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode() if ok else None


def data_uri(jpeg: bytes | None) -> str | None:
    return None if not jpeg else "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()



def render(lang: Lang, *, view: dict[str, Any], cfg: Any, live: bytes | None, live_at: Any, recent: list[Record],
           model: str | None, model_error: str | None, fps: float, detect_ms: float | None,
           suspect: list[str] | None = None, classifier: dict[str, Any] | None = None) -> str:
    rows = []
    for r in recent:
        d = r.data
        rows.append({"time": fmt_time(r.started), "cls": class_name(str(d.get("cls", "")), lang),
                     "score": d.get("score"), "hold": d.get("hold_s"), "reason": d.get("reason"),
                     "open": d.get("open", False), "thumb": thumbnail(r.jpeg)})
    return _env.get_template("fragment.html").render(
        t=CATALOG.bind(lang), lang=lang, v=view, cfg=cfg, live=data_uri(live),
        live_at=fmt_time(live_at) if live_at else "—", rows=rows, model=model, model_error=model_error,
        fps=f"{fps:.1f}", detect_ms="—" if detect_ms is None else f"{detect_ms:.0f}", tone=STATE_TONE,
        cname=lambda c: class_name(c, lang), fmt_time=fmt_time,
        suspect=[CATALOG.bind(lang)("f_" + k) for k in (suspect or [])],
        classifier=classifier or {"state": "off"},
        cls_state=CLASSIFIER_STATES[(classifier or {}).get("state", "off")].text(lang),
        modes=[LIFT_MODE_NAMES[m][0 if lang == "zh" else 1] for m in view.get("lift_modes", [])],
        default_model=str(cfg.detector.model).endswith("ssd_mobilenet_v2_coco_quant.onnx"))
