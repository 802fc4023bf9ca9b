"""Chinese names of config fields shared by several kinds (see edge/runtime/config_schemas.py): a field a person
sees in the server's desired-config form has a title (and, where it needs one, a description) in Chinese."""

from __future__ import annotations

SHARED: dict[str, object] = {
    "CardFormat.number": ("读卡器发送的卡号格式", "自动：纯数字按十进制，含 A–F 按十六进制。"),
    "CardFormat.number=auto": "自动",
    "CardFormat.number=decimal": "十进制",
    "CardFormat.number=hex": "十六进制",
    "CardFormat.qr_prefixes": ("二维码前缀", "以这些文字开头的内容是二维码，不是卡号。每行一个。"),
}
