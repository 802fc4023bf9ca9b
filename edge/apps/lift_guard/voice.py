"""The spoken warning: said when the door is first held and repeated every ``repeat_s`` while it stays held."""

from __future__ import annotations

from edge.hal import Speaker

from .config import Prompt, VoiceConfig


class Prompter:
    def __init__(self, cfg: VoiceConfig, speaker: Speaker) -> None:
        self.cfg = cfg
        self.speaker = speaker
        self._next: float | None = None
        self._cls: str | None = None
        self.spoken = 0

    def prompts_for(self, cls: str | None) -> list[Prompt]:
        return self.cfg.class_prompts.get(cls or "", self.cfg.prompts)

    def say_now(self, cls: str | None) -> None:
        """Speak once, at once (Mandarin first, then the other prompts), or play the recorded WAV."""
        if self.cfg.wav is not None:
            self.speaker.play(str(self.cfg.wav))
        else:
            for p in self.prompts_for(cls):
                self.speaker.say(p.text, p.lang)
        self.spoken += 1

    def start(self, now: float, cls: str | None) -> None:
        self._cls = cls
        if not self.cfg.enabled:
            return
        self.say_now(cls)
        self._next = now + self.cfg.repeat_s

    def tick(self, now: float) -> None:
        if self._next is not None and now >= self._next:
            self.say_now(self._cls)
            self._next = now + self.cfg.repeat_s

    def stop(self) -> None:
        self._next = None
        self._cls = None

    @property
    def active(self) -> bool:
        return self._next is not None
