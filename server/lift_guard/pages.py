"""Pages for property managers and maintenance staff (Chinese first): ``/lift_guard`` (every lift: blocks per day,
false-alarm releases, longest holds, open faults) and ``/lift_guard/{site}/{device}`` (its snapshot gallery within
the retention time, faults, pauses, and the audited release form). Snapshots only for roles that may see them."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from linli.contract import NAME_RE, Kind
from linli.i18n import Catalog, Lang, pick_lang
from server import web
from server.api.deps import find_device, form_user, get_server, require
from server.auth import User, can_see_snapshots

from . import queries as q
from .api import deploy_classifier, label_block, release, rollback_classifier, start_training
from .classifier import LABELS, classifiers, file_by_sha, label_counts, labels_of

router = APIRouter(include_in_schema=False)
Reader = Annotated[User, Depends(require("read"))]
KIND = Kind.lift_guard.value
MINUTES = (5, 15, 30, 60)


TEXTS = Catalog({
    "title": ("电梯阻车", "Lift e-bike guard"),
    "subtitle": ("电动车及电池禁止进入电梯（2024年6月1日起施行）", "E-bikes and their batteries are banned from lifts "
                                                          "(since 2024-06-01)"),
    "today_blocks": ("今日阻车", "Blocks today"), "week_blocks": ("{n} 日阻车", "Blocks, {n} days"),
    "week_staff": ("{n} 日人工解除（误报）", "Staff releases, {n} days"),
    "week_maxhold": ("{n} 日超时告警", "Longest-hold alarms, {n} days"),
    "open_faults": ("未恢复故障", "Open faults"),
    "lifts": ("各电梯每日阻车", "Blocks per lift per day"),
    "site": ("小区", "Site"), "lift": ("电梯", "Lift"), "online": ("在线", "Link"), "guard": ("状态", "State"),
    "total": ("合计", "Total"), "staff": ("人工解除", "Staff releases"), "maxhold": ("超时", "Longest hold"),
    "faults": ("故障", "Faults"), "last": ("最近一次", "Last block"), "none": ("暂无记录", "Nothing yet"),
    "no_lifts": ("还没有电梯阻车设备上线。", "No lift guard has connected yet."),
    "g_idle": ("空闲", "idle"), "g_watching": ("监视中", "watching"), "g_blocking": ("阻止中", "blocking"),
    "g_paused": ("已暂停", "paused"), "g_fault": ("故障", "fault"), "g_disabled": ("未启用", "disabled"),
    "g_none": ("—", "—"),
    "legend": ("格内：阻车次数；括号内为人工解除（误报）次数。", "Cells: blocks; in brackets: released by staff "
                                                    "(false alarms)."),
    "back": ("返回电梯阻车总览", "Back to the lift overview"), "device_page": ("设备详情", "Device details"),
    "gallery": ("阻车抓拍", "Block snapshots"),
    "retention": ("抓拍作为证据保留 {d} 天，之后自动删除。", "Snapshots are evidence, kept {d} days, then deleted."),
    "no_snap_role": ("您的角色不能查看抓拍图片（个人信息保护）。", "Your role may not see snapshots (privacy)."),
    "purged": ("已按保留期删除", "deleted (retention)"), "pending": ("图片上传中", "arriving"),
    "hidden": ("无权查看", "hidden"), "no_snap": ("无抓拍", "no snapshot"),
    "cls": ("类别", "Class"), "score": ("置信度", "Score"), "hold": ("保持 {s} 秒", "held {s} s"),
    "ongoing": ("阻止中", "ongoing"), "latency": ("识别到继电器 {ms} 毫秒", "sight to relay {ms} ms"),
    "by": ("操作人", "by"),
    "r_cleared": ("已离开", "left the car"), "r_door_closed": ("门已关", "door closed"),
    "r_max_hold": ("超过最长保持（已告警）", "longest hold (alarm)"), "r_remote": ("远程解除", "released remotely"),
    "r_local": ("现场解除", "released on site"), "r_fault": ("故障释放", "fault"),
    "r_schedule": ("时段结束", "schedule"),
    "r_inhibit": ("消防/检修", "fire/inspection"), "r_shutdown": ("程序停止", "agent stopped"),
    "c_ebike": ("电动车", "e-bike"), "c_battery": ("电池", "battery"), "c_bicycle": ("自行车", "bicycle"),
    "release_title": ("远程解除阻止", "Release remotely"),
    "release_help": ("解除当前阻止（如有）并在所选时间内暂停阻止，操作会记录在审计日志。",
                     "Lets a held door go (if any) and pauses blocking for the chosen time; recorded in the audit "
                     "log."),
    "minutes": ("暂停时长", "Pause for"), "min": ("{m} 分钟", "{m} min"),
    "reason": ("原因（必填）", "Reason (required)"),
    "reason_ph": ("如：误报（轮椅）、搬家公司运送", "e.g. false alarm (wheelchair), removal company"),
    "release": ("解除并暂停", "Release and pause"),
    "release_sent": ("已发送解除指令（{m} 分钟）。", "Release sent ({m} min)."),
    "release_not_sent": ("指令已记录，但设备当前未连接，{s} 秒内连上才会执行。",
                         "Stored, but the device is not connected; it acts only if it connects within {s} s."),
    "reason_bad": ("请填写原因（2–200 字）。", "Please give a reason (2-200 characters)."),
    "no_command": ("您的角色不能远程解除。", "Your role may not release remotely."),
    "paused_until": ("阻止已暂停至 {t}（{by}）", "Blocking paused until {t} ({by})"),
    "fault_list": ("故障记录", "Faults"), "started": ("开始", "Started"), "cleared": ("恢复", "Cleared"),
    "still": ("未恢复", "open"), "detail": ("详情", "Detail"),
    "f_camera_lost": ("摄像头无画面", "camera lost"), "f_black": ("画面全黑", "view black"),
    "f_covered": ("镜头被遮挡", "lens covered"), "f_frozen": ("画面冻结", "picture frozen"),
    "f_detector": ("识别模型故障", "detector fault"),
    "f_relay_mismatch": ("继电器回读不一致", "relay read-back mismatch"),
    "pauses": ("暂停记录", "Pauses"), "until": ("至", "Until"), "origin": ("来源", "Origin"),
    "o_mqtt": ("远程", "remote"), "o_local": ("现场", "on site"), "o_max_hold": ("超时后自动", "after longest hold"),
    "dashboards": ("图表与导出", "Charts and export"),
    "l_ebike": ("电动车", "e-bike"), "l_bicycle": ("自行车", "bicycle"), "l_stroller": ("婴儿车", "stroller"),
    "l_wheelchair": ("轮椅", "wheelchair"), "l_cart": ("手推车", "cart"), "l_battery": ("电池", "battery"),
    "l_other": ("误报", "false alarm"),
    "label_q": ("这是什么？", "What is it?"),
    "label_help": ("请在每张抓拍下点一下它实际是什么，用于训练本小区的识别。",
                   "Tap what each snapshot really shows: it trains this site's recognition."),
    "label_saved": ("已标注。", "Label saved."), "label_bad": ("标注未保存。", "Label not saved."),
    "classifier_link": ("本小区分类器", "This site's classifier"),
    "by_classifier": ("本小区分类器参与判断", "decided with the site classifier"),
    "cls_title": ("本小区二级分类器", "Site classifier (second stage)"),
    "cls_help": ("识别模型先找出两轮车和箱包，分类器再看图块判断：电动车、自行车、婴儿车、轮椅、手推车、电池或误报。"
                 "只有确信是自行车、婴儿车或轮椅时才放行；电动车照常阻止。训练只用本小区标注过的抓拍。",
                 "The detector finds two-wheelers and bags; the classifier then looks at the crop: e-bike, bicycle, "
                 "stroller, wheelchair, cart, battery or false alarm. It lets an object in only when sure it is a "
                 "bicycle, stroller or wheelchair; e-bikes are blocked as before. It learns only from this site's "
                 "labelled snapshots."),
    "cls_lifts": ("各电梯正在使用", "What each lift runs"), "cls_running": ("分类器", "Classifier"),
    "cs_off": ("未启用（仅识别模型）",
               "off (detector only)"),
    "cs_loading": ("下载中（暂用识别模型）", "loading (detector only meanwhile)"),
    "cs_loaded": ("运行中", "running"), "cs_fallback": ("文件无效，已退回识别模型", "file refused: detector only"),
    "cls_labelled": ("已标注的抓拍", "Labelled snapshots"),
    "cls_need": ("每类至少 3 张才会参与训练，每类四分之一留作检验，至少需要两类。",
                 "A class needs at least 3 labelled snapshots; a quarter of each is held out for checking; at least "
                 "two classes."),
    "cls_train": ("用已标注抓拍训练", "Train from the labelled snapshots"),
    "train_queued": ("已开始训练，完成后在下方显示检验结果。",
                     "Training started; the check figures appear below when done."),
    "cls_models": ("训练结果", "Trained classifiers"),
    "ms_queued": ("排队中", "queued"), "ms_training": ("训练中", "training"),
    "ms_ready": ("可部署", "ready"),
    "ms_failed": ("训练失败", "failed"),
    "cls_deployed": ("已部署 {t}", "deployed {t}"),
    "cls_crops": ("{n} 张图块，用时 {s} 秒", "{n} crops, {s} s"),
    "cls_failed": ("训练失败：", "Training failed:"),
    "cls_train_n": ("训练", "Trained on"), "cls_test_n": ("检验", "Held out"),
    "precision": ("精确率", "Precision"), "recall": ("召回率", "Recall"),
    "cls_heldout_help": ("检验结果来自训练时未使用的抓拍。数量少时仅供参考。",
                         "Figures on snapshots the training did not use. With few snapshots they are only "
                         "indicative."),
    "cls_deploy": ("部署到本小区所有电梯", "Deploy to every lift of this site"),
    "cls_rollback": ("停用分类器（恢复仅识别模型）", "Turn the classifier off (detector only)"),
    "deployed": ("已下发到 {m} 部电梯。", "Sent to {m} lift(s)."),
    "rolled_back": ("已停用分类器，{m} 部电梯恢复仅识别模型。",
                    "Classifier off: {m} lift(s) back to the detector only."),
    "deploy_bad": ("无法部署：", "Cannot deploy:"),
})


def _lang(request: Request) -> Lang:
    return pick_lang(request.query_params.get("lang"), request.cookies.get(web.LANG_COOKIE),
                     request.headers.get("accept-language"))


def _render(request: Request, name: str, user: User, ctx: dict[str, Any]) -> HTMLResponse:
    lang = _lang(request)

    def tl(key: str, **kw: Any) -> str:
        return TEXTS.t(key, lang, **kw) if key in TEXTS.messages else key

    flash = request.query_params.get("lg")
    return web.render(request, name, user, {"tl": tl, "lg_flash": flash, "lg_arg": request.query_params.get("n", ""),
                                            "see_snaps": can_see_snapshots(user), **ctx})


@router.get("/lift_guard", response_class=HTMLResponse)
def overview(request: Request, user: Reader, site: str | None = None) -> HTMLResponse:
    srv = get_server(request)
    days = q.day_range(7)
    site = site if site and NAME_RE.fullmatch(site) else None
    with srv.db.session() as s:
        items = q.figures(s, user, days, site)
        states = q.snapshot_states(s, [f.last_block.snapshot for f in items if f.last_block])
    totals = q.per_day_counts(items, days)
    week = {k: sum(v[k] for v in totals.values()) for k in ("blocks", "staff_releases", "max_hold", "faults")}
    cards = {"today": totals[days[-1]]["blocks"], **week,
             "open_faults": sum(len(f.open_faults) for f in items)}
    return _render(request, "lift_guard/overview.html", user, {"items": items, "days": days, "cards": cards,
                                                               "states": states})


@router.get("/lift_guard/{site}/{device}", response_class=HTMLResponse)
def device_page(request: Request, user: Reader, site: str, device: str) -> HTMLResponse:
    srv = get_server(request)
    with srv.db.session() as s:
        dev = find_device(s, user, site, KIND, device)
        fig = q.figures(s, user, q.day_range(7), site)
        mine = next((f for f in fig if f.device.id == dev.id), None)
        rows = q.blocks(s, user, site, device, limit=60)
        states = q.snapshot_states(s, [b.snapshot for b, _ in rows] + [b.end_snapshot for b, _ in rows])
        faults = q.faults(s, user, site, device, limit=50)
        pauses = q.pauses(s, dev.id)
    return _render(request, "lift_guard/device.html", user, {
        "dev": dev, "fig": mine, "rows": rows, "states": states, "faults": faults, "pauses": pauses,
        "minutes": MINUTES, "retention_days": srv.settings.retention.snapshot_days,
        "can_release": user.can("command"), "can_label": can_see_snapshots(user), "label_choices": LABELS,
        "labels": labels_of(srv.db, [b.block_id for b, _ in rows])})


@router.post("/lift_guard/{site}/{device}/release")
async def release_form(request: Request, site: str, device: str,
                       user: Annotated[User, Depends(form_user("command"))]) -> RedirectResponse:
    form = await request.form()
    back = f"/lift_guard/{site}/{device}"
    reason = str(form.get("reason", "")).strip()
    try:
        minutes = float(str(form.get("minutes", "5")))
    except ValueError:
        minutes = 5.0
    if not 2 <= len(reason) <= 200 or not 0 < minutes <= 240:
        return RedirectResponse(f"{back}?{urlencode({'lg': 'reason_bad'})}", status_code=303)
    res = await run_in_threadpool(release, request, user, site, device, minutes, reason)
    key = "release_sent" if res.published else "release_not_sent"
    return RedirectResponse(f"{back}?{urlencode({'lg': key, 'n': f'{minutes:g}'})}", status_code=303)


@router.post("/lift_guard/{site}/{device}/label")
async def label_form(request: Request, site: str, device: str,
                     user: Annotated[User, Depends(form_user("read"))]) -> RedirectResponse:
    form = await request.form()
    block_id, label = str(form.get("block_id", "")), str(form.get("label", ""))
    back = f"/lift_guard/{site}/{device}"
    if label not in LABELS or not block_id:
        return RedirectResponse(f"{back}?{urlencode({'lg': 'label_bad'})}", status_code=303)
    await run_in_threadpool(label_block, request, user, site, device, block_id, label)
    return RedirectResponse(f"{back}?{urlencode({'lg': 'label_saved'})}#b-{block_id}", status_code=303)


@router.get("/lift_classifier/{site}", response_class=HTMLResponse)
def classifier_page(request: Request, user: Reader, site: str) -> HTMLResponse:
    from sqlalchemy import select

    from server.db.models import Device

    if not user.sees(site) or not NAME_RE.fullmatch(site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such site")
    srv = get_server(request)
    with srv.db.session() as s:
        lifts = list(s.scalars(select(Device).where(Device.site == site, Device.kind == KIND)
                               .order_by(Device.device)))
        for d in lifts:
            s.expunge(d)
    return _render(request, "lift_guard/classifier.html", user, {
        "site": site, "lifts": lifts, "counts": label_counts(srv.db, site), "models": classifiers(srv.db, site),
        "label_choices": LABELS, "can_train": can_see_snapshots(user), "can_deploy": user.can("config")})


@router.post("/lift_classifier/{site}/train")
async def train_form(request: Request, site: str,
                     user: Annotated[User, Depends(form_user("read"))]) -> RedirectResponse:
    await run_in_threadpool(start_training, request, user, site)
    return RedirectResponse(f"/lift_classifier/{site}?{urlencode({'lg': 'train_queued'})}", status_code=303)


@router.post("/lift_classifier/{site}/{model_id}/deploy")
async def deploy_form(request: Request, site: str, model_id: int,
                      user: Annotated[User, Depends(form_user("config"))]) -> RedirectResponse:
    out = await run_in_threadpool(deploy_classifier, request, user, site, model_id)
    return RedirectResponse(f"/lift_classifier/{site}?{urlencode({'lg': 'deployed', 'n': len(out['lifts'])})}",
                            status_code=303)


@router.post("/lift_classifier/{site}/rollback")
async def rollback_form(request: Request, site: str,
                        user: Annotated[User, Depends(form_user("config"))]) -> RedirectResponse:
    out = await run_in_threadpool(rollback_classifier, request, user, site)
    return RedirectResponse(f"/lift_classifier/{site}?{urlencode({'lg': 'rolled_back', 'n': len(out['lifts'])})}",
                            status_code=303)


@router.get("/classifiers/{filename}")
def classifier_file(request: Request, filename: str) -> Response:
    """What lift guards download after a deploy: the file named by its SHA-256 (the device checks it)."""
    import re

    m = re.fullmatch(r"lift-([0-9a-f]{64})\.json", filename)
    body = file_by_sha(get_server(request).db, m.group(1)) if m else None
    if body is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such classifier")
    return Response(body, media_type="application/json", headers={"cache-control": "public, max-age=31536000, "
                                                                                    "immutable"})
