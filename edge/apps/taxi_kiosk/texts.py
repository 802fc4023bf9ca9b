"""Everything the kiosk shows and says, Simplified Chinese first, English available. Short sentences, everyday words
(the reader may be 80 and may never have used a smartphone); numbers that are read aloud are spelled out digit by
digit so that espeak-ng says "九 六 八 二 二" and not "九万六千八百二十二"."""

from __future__ import annotations

from linli.i18n import Catalog, Lang

SCREEN = Catalog({
    "brand": ("一键叫车", "One-tap taxi"),
    "free_note": ("叫车免费 · 车费上车后付给司机（现金或交通卡）",
                  "Calling is free · pay the driver (cash or transport card)"),
    "hotline_short": ("叫车电话 {hotline}", "Taxi hotline {hotline}"),
    "lang_switch": ("English", "中文"),
    "repeat_voice": ("再听一遍", "Listen again"),
    "offline_banner": ("网络中断，正在重新连接…", "Network down — reconnecting…"),
    "offline_idle": ("网络中断了。现在叫车可能要多等一会儿，着急请拨打 {hotline}",
                     "The network is down. A call may take longer — in a hurry, phone {hotline}."),
    "offline_order": ("网络中断：您的叫车已经保存，网络恢复后自动继续",
                      "Network down: your call is saved and carries on when the network is back."),
    "starting": ("正在连接，请稍候…", "Connecting, please wait…"),
    # idle
    "idle_title": ("要坐出租车吗？", "Need a taxi?"),
    "idle_hint": ("按一下，出租车就会开到这里接您", "Press it once and a taxi comes here for you."),
    "call_button": ("叫出租车", "Call a taxi"),
    "pickup_at": ("上车地点", "Pick-up"),
    "step_press": ("按绿色按钮", "Press the green button"),
    "step_wait": ("在候车点等车", "Wait at the taxi bay"),
    "step_pay": ("上车后付钱给司机", "Get in, pay the driver"),
    # calling
    "calling_title": ("正在为您叫车…", "Finding you a taxi…"),
    "calling_hint": ("已经通知附近的出租车，请稍等", "Nearby taxis have been told. Please wait."),
    "calling_recall": ("原来的司机取消了，正在为您重新叫车", "The driver cancelled — finding you another taxi."),
    "waited_s": ("已等 {s} 秒", "Waiting {s} s"),
    "waited_ms": ("已等 {m} 分 {s} 秒", "Waiting {m} min {s} s"),
    "cancel_button": ("取消叫车", "Cancel the taxi"),
    "phone_button": ("留个电话给司机（可以不留）", "Leave a phone number (optional)"),
    "phone_left": ("已留电话 {phone}", "Phone number left: {phone}"),
    # assigned / arriving
    "assigned_title": ("已为您叫到车", "Your taxi is on the way"),
    "arriving_title": ("车快到了，请准备上车", "Your taxi is almost here"),
    "arrived_title": ("车已到达，请上车", "Your taxi is here — please get in"),
    "plate": ("车牌", "Plate"),
    "driver": ("{surname}师傅", "Driver {surname}"),
    "eta": ("大约 {min} 分钟到", "About {min} min away"),
    "eta_now": ("马上就到", "Arriving now"),
    "at_bay": ("车已在候车点", "The taxi is at the bay"),
    "taxi_of_colour": ("{colour}出租车", "a {colour} taxi"),
    "distance": ("距离 {dist}", "{dist} away"),
    "wait_at": ("请在 {point} 等候", "Please wait at {point}"),
    "metres": ("{n} 米", "{n} m"),
    "km": ("{n} 公里", "{n} km"),
    "you_are_here": ("您在这里", "You are here"),
    "map_title": ("出租车位置", "Where the taxi is"),
    # ended
    "picked_up_title": ("祝您一路平安！", "Have a good trip!"),
    "picked_up_hint": ("车费请付给司机，可用现金或交通卡", "Pay the driver in cash or with a transport card."),
    "cancelled_title": ("已取消叫车", "The taxi is cancelled"),
    "cancelled_hint": ("需要时请再按绿色按钮", "Press the green button whenever you need a taxi."),
    "no_driver_title": ("附近暂时没有空车", "No taxi is free nearby right now"),
    "unavailable_title": ("叫车服务暂时连不上", "The taxi service cannot be reached right now"),
    "no_show_title": ("司机没等到您", "The driver could not find you"),
    "no_show_hint": ("这次叫车已结束。需要用车，请再叫一次", "This call has ended. Call again if you need a taxi."),
    "hotline_line": ("请拨打叫车电话", "Please phone the taxi hotline"),
    "retry_button": ("再叫一次", "Try again"),
    "back_button": ("不叫了", "No, thanks"),
    "ok_button": ("好的", "OK"),
    # questions (one decision per screen)
    "confirm_title": ("确定不坐车了吗？", "Cancel the taxi?"),
    "confirm_driver": ("司机已经在路上了（车牌 {plate}）", "A driver is already on the way ({plate})"),
    "confirm_yes": ("是，取消叫车", "Yes, cancel it"),
    "confirm_no": ("不，继续等车", "No, keep waiting"),
    "phone_title": ("请输入手机号码", "Enter your phone number"),
    "phone_hint": ("司机可以打电话找您。不留也能叫车。", "The driver can phone you. You can also skip this."),
    "phone_ok": ("确定", "OK"),
    "phone_skip": ("不留了", "Skip"),
    "phone_delete": ("删除", "Delete"),
    "phone_invalid": ("号码不对，请再看一下", "That number does not look right"),
    "limit_title": ("叫车次数太多了", "Too many calls just now"),
    "limit_hint": ("请过一会儿再叫。着急请拨打叫车电话", "Please try again later. In a hurry, phone the hotline."),
    # car colours
    "colour_white": ("白色", "white"), "colour_black": ("黑色", "black"), "colour_silver": ("银色", "silver"),
    "colour_grey": ("灰色", "grey"), "colour_red": ("红色", "red"), "colour_yellow": ("黄色", "yellow"),
    "colour_green": ("绿色", "green"), "colour_blue": ("蓝色", "blue"), "colour_teal": ("湖蓝色", "teal"),
    "colour_orange": ("橙色", "orange"), "colour_gold": ("金色", "gold"), "colour_brown": ("棕色", "brown"),
})

VOICE = Catalog({
    "idle": ("要坐出租车，请按绿色大按钮。", "To call a taxi, press the big green button."),
    "calling": ("正在为您叫车，请稍等。不坐了，可以按红色按钮取消。",
                "Finding you a taxi, please wait. To cancel, press the red button."),
    "calling_recall": ("原来的司机取消了，正在为您重新叫车，请稍等。",
                       "The driver cancelled. Finding you another taxi, please wait."),
    "assigned": ("已为您叫到车。车牌，{plate}。{colour}{model}，{surname}师傅，大约{min}分钟到。请在{point}等候。",
                 "Your taxi is on the way. Plate {plate}. A {colour} {model}, driver {surname}, about {min} "
                 "minutes away. Please wait at {point}."),
    "arriving": ("车快到了，请到{point}准备上车。车牌，{plate}。",
                 "Your taxi is almost here. Please go to {point}. Plate {plate}."),
    "arrived": ("车已到达，请上车。车牌，{plate}。", "Your taxi is here. Please get in. Plate {plate}."),
    "picked_up": ("祝您一路平安。车费请付给司机，可以用现金或交通卡。",
                  "Have a good trip. Pay the driver in cash or with a transport card."),
    "cancelled": ("已取消叫车。", "The taxi is cancelled."),
    "no_driver": ("附近暂时没有空车。可以按绿色按钮再叫一次，或者拨打叫车电话，{hotline}。",
                  "No taxi is free nearby. Press the green button to try again, or phone the taxi hotline, "
                  "{hotline}."),
    "unavailable": ("叫车服务暂时连不上。请拨打叫车电话，{hotline}。",
                    "The taxi service cannot be reached. Please phone the taxi hotline, {hotline}."),
    "no_show": ("司机没有等到您，这次叫车已结束。需要用车，请再叫一次。",
                "The driver could not find you, so this call has ended. Call again if you need a taxi."),
    "confirm_cancel": ("确定不坐车了吗？要取消，请按红色按钮。继续等车，请按绿色按钮。",
                       "Cancel the taxi? To cancel, press the red button. To keep waiting, press the green button."),
    "phone": ("请输入您的手机号码，司机可以打电话找您。不留也可以。",
              "Enter your phone number so the driver can call you. You can also skip this."),
    "limit": ("叫车次数太多了，请过一会儿再叫，或者拨打叫车电话，{hotline}。",
              "Too many calls just now. Please try later, or phone the taxi hotline, {hotline}."),
    "offline": ("网络暂时中断。您的叫车已经保存，网络恢复后会自动继续。",
                "The network is down. Your call is saved and carries on when the network is back."),
})


def spell(text: str, lang: Lang) -> str:
    """Characters one by one, for plates and phone numbers read aloud."""
    sep = " " if lang == "en" else "，"
    return sep.join(ch for ch in text if not ch.isspace())


def fmt_distance(metres: float, lang: Lang) -> str:
    if metres < 1000:
        return SCREEN.t("metres", lang, n=round(metres / 10.0) * 10)
    return SCREEN.t("km", lang, n=f"{metres / 1000:.1f}")


def fmt_plate(plate: str) -> str:
    """沪AF1234 → 沪A·F1234 (as painted on the plate)."""
    return f"{plate[:2]}·{plate[2:]}" if len(plate) > 2 else plate


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "****"


def eta_minutes(eta_s: float) -> int:
    return max(1, round(eta_s / 60.0))
