"""Chinese names of the probe's config fields (edge/runtime/config_schemas.py puts them into the contract)."""

from __future__ import annotations

ZH: dict[str, object] = {
    "ProbeConfig.button": ("按钮输入", "上报其变化的输入端口名称。"),
    "ProbeConfig.output": ("测试继电器", "用于测试的继电器名称。"),
    "ProbeConfig.pulse_max_s": ("最长脉冲", "要求更长脉冲的命令会被拒绝。"),
    "ProbeConfig.max_on_s": ("最长保持", "用“开启”命令打开的输出在这段时间后自动关闭。"),
    "ProbeConfig.loop_interval_s": ("循环间隔", "探测器主循环的运行间隔（同时喂看门狗）。"),
}
