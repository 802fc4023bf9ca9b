"""Voice prompts: espeak-ng synthesis played through aplay, written to WAV files, or only recorded.

``say()`` and ``play()`` never block and never raise because of audio: they queue the utterance for a
worker thread, and every utterance ends up in :attr:`Speaker.history` with its outcome. That history is
how simulations and tests see what the resident heard.
"""

from __future__ import annotations

import logging
import queue
import shutil
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edge.hal.config import SpeakerConfig

log = logging.getLogger(__name__)

_SUBPROCESS_TIMEOUT_S = 60.0
_QUEUE_MAX = 32
_HISTORY_MAX = 1000
_WAV_FILES_KEPT = 200

Kind = Literal["say", "play"]


@dataclass(frozen=True)
class SpokenItem:
    ts: float  # time.time() when it was spoken (or failed)
    kind: Kind
    text: str  # the sentence, or the WAV path for play()
    lang: str
    backend: str  # espeak | wav | record
    ok: bool
    error: str | None = None
    wav_path: str | None = None  # the WAV written (wav output) or played


def audio_output_available(device: str | None = None) -> bool:
    """True when aplay exists and ALSA has a sound card (or an explicit device was configured)."""
    if shutil.which("aplay") is None:
        return False
    if device:
        return True
    try:
        cards = Path("/proc/asound/cards").read_text(errors="replace")
    except OSError:
        return False
    return bool(cards.strip()) and "no soundcards" not in cards


class Speaker:
    def __init__(self, cfg: SpeakerConfig) -> None:
        self.cfg = cfg
        self._espeak = shutil.which("espeak-ng")
        self.backend: str = cfg.backend
        if cfg.backend == "auto":
            self.backend = "espeak" if self._espeak else "record"
            if not self._espeak:
                log.warning("speaker: espeak-ng not installed, voice prompts are only recorded")
        elif cfg.backend in ("espeak", "wav") and not self._espeak:
            log.error("speaker: backend '%s' needs espeak-ng, which is not installed", cfg.backend)
        self._audio = self.backend == "espeak" and audio_output_available(cfg.audio_device)
        if self.backend == "espeak" and not self._audio:
            where = f"WAV files in {cfg.wav_dir}" if cfg.wav_dir else "nowhere (no wav_dir): only recorded"
            log.warning("speaker: no audio output device; speech goes to %s", where)
        self._history: deque[SpokenItem] = deque(maxlen=_HISTORY_MAX)
        self._wavs: deque[Path] = deque()
        self._seq = 0
        self._queue: queue.Queue[tuple[Kind, str, str] | None] = queue.Queue(maxsize=_QUEUE_MAX)
        self._pending = 0
        self._idle = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="speaker", daemon=True)
        self._worker.start()

    # -- the caller's side -------------------------------------------------------------------------------
    def say(self, text: str, lang: str = "zh") -> None:
        """Speak ``text`` (lang "zh", "en", or an espeak-ng voice name) without waiting."""
        self._submit("say", text, lang)

    def play(self, wav_path: str) -> None:
        """Play a recorded WAV prompt without waiting."""
        self._submit("play", str(wav_path), "")

    def _submit(self, kind: Kind, text: str, lang: str) -> None:
        with self._idle:
            if self._closed:
                error = "speaker is closed"
            else:
                try:
                    self._queue.put_nowait((kind, text, lang))
                    self._pending += 1
                    return
                except queue.Full:
                    error = f"speaker queue full ({_QUEUE_MAX} waiting): dropped"
        self._record(kind, text, lang, False, error)

    @property
    def history(self) -> list[SpokenItem]:
        """Every utterance so far (the last 1000), oldest first."""
        return list(self._history)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued has been spoken; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Finish what is queued (at most ``timeout`` seconds), then stop the worker."""
        with self._idle:
            if self._closed:
                return
            self._closed = True
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("speaker: queue still full at close, dropping the rest")
            return
        self._worker.join(timeout)

    def snapshot(self) -> dict[str, Any]:
        last = self._history[-1] if self._history else None
        return {
            "backend": self.backend,
            "audio": self._audio,
            "queued": self._pending,
            "spoken": len(self._history),
            "last": None if last is None else {"text": last.text, "ok": last.ok, "error": last.error},
        }

    # -- the worker's side -------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            kind, text, lang = item
            try:
                error, wav = self._speak(text, lang) if kind == "say" else self._play(text)
            except Exception as e:  # a broken backend must never kill the worker
                log.exception("speaker: %s failed", kind)
                error, wav = f"{type(e).__name__}: {e}", None
            self._record(kind, text, lang, error is None, error, wav)
            self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _record(
        self, kind: Kind, text: str, lang: str, ok: bool, error: str | None = None, wav: str | None = None
    ) -> None:
        item = SpokenItem(time.time(), kind, text, lang, self.backend, ok, error, wav)
        self._history.append(item)
        if error:
            log.warning("speaker: %s %r failed: %s", kind, text, error)

    def _speak(self, text: str, lang: str) -> tuple[str | None, str | None]:
        if self.backend == "record":
            return None, None
        if self._espeak is None:
            return "espeak-ng is not installed", None
        voice = self.cfg.voice if lang == "zh" else lang
        cmd = [self._espeak, "-v", voice, "-s", str(self.cfg.rate_wpm), "-a", str(self.cfg.volume_pct)]
        cmd += ["-b", "1", "--stdin", "--stdout"]
        res = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=_SUBPROCESS_TIMEOUT_S)
        if res.returncode != 0 or not res.stdout:
            return f"espeak-ng failed ({res.returncode}): {res.stderr.decode(errors='replace').strip()}", None
        if self._audio:
            return self._aplay(res.stdout), None
        if not self.cfg.wav_dir:
            return None, None
        return None, self._write_wav(res.stdout, lang)

    def _write_wav(self, wav: bytes, lang: str) -> str:
        folder = Path(self.cfg.wav_dir or ".")
        folder.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        path = folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{self._seq:05d}-{lang or 'x'}.wav"
        path.write_bytes(wav)
        self._wavs.append(path)
        while len(self._wavs) > _WAV_FILES_KEPT:
            self._wavs.popleft().unlink(missing_ok=True)
        return str(path)

    def _play(self, wav_path: str) -> tuple[str | None, str | None]:
        path = Path(wav_path)
        if not path.is_file():
            return f"no such WAV file: {wav_path}", None
        if not self._audio:
            return None, wav_path
        return self._aplay(path.read_bytes()), wav_path

    def _aplay(self, wav: bytes) -> str | None:
        cmd = ["aplay", "-q"] + (["-D", self.cfg.audio_device] if self.cfg.audio_device else []) + ["-"]
        res = subprocess.run(cmd, input=wav, capture_output=True, timeout=_SUBPROCESS_TIMEOUT_S)
        if res.returncode != 0:
            return f"aplay failed ({res.returncode}): {res.stderr.decode(errors='replace').strip()}"
        return None
