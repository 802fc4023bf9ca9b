from __future__ import annotations

import logging
import shutil
import wave
from pathlib import Path

import pytest

from edge.hal import speaker as speaker_mod
from edge.hal.config import SpeakerConfig
from edge.hal.speaker import Speaker

PROMPT = "电动车禁止进入电梯"
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def test_record_backend_keeps_history_in_order() -> None:
    spk = Speaker(SpeakerConfig(backend="record"))
    spk.say(PROMPT)
    spk.say("Please take the e-bike out of the lift", lang="en")
    assert spk.wait_idle(5)
    items = spk.history
    assert [(i.text, i.lang, i.backend, i.ok, i.kind) for i in items] == [
        (PROMPT, "zh", "record", True, "say"),
        ("Please take the e-bike out of the lift", "en", "record", True, "say"),
    ]
    assert items[0].ts <= items[1].ts and items[0].error is None
    assert spk.snapshot()["spoken"] == 2 and spk.snapshot()["last"]["ok"] is True
    spk.close()


def test_say_never_raises_and_after_close_is_recorded_as_an_error(tmp_path: Path) -> None:
    spk = Speaker(SpeakerConfig(backend="record"))
    spk.play(str(tmp_path / "missing.wav"))
    assert spk.wait_idle(5)
    spk.close()
    spk.close()
    spk.say("too late")
    items = spk.history
    assert not items[0].ok and "no such WAV file" in (items[0].error or "")
    assert items[1].text == "too late" and items[1].error == "speaker is closed"


def test_auto_without_espeak_records_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(speaker_mod.shutil, "which", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="edge.hal.speaker"):
        spk = Speaker(SpeakerConfig())
        spk.say(PROMPT)
        spk.say(PROMPT)
        assert spk.wait_idle(5)
    assert spk.backend == "record" and all(i.ok and i.backend == "record" for i in spk.history)
    assert len([r for r in caplog.records if "espeak-ng not installed" in r.message]) == 1
    spk.close()


def test_espeak_backend_without_espeak_records_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speaker_mod.shutil, "which", lambda name: None)
    spk = Speaker(SpeakerConfig(backend="espeak"))
    spk.say(PROMPT)
    assert spk.wait_idle(5)
    assert spk.history[0].ok is False and spk.history[0].error == "espeak-ng is not installed"
    spk.close()


def _duration(path: str) -> float:
    with wave.open(path) as w:
        return w.getnframes() / w.getframerate()


@needs_espeak
def test_espeak_writes_a_chinese_wav_when_there_is_no_audio_device(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(speaker_mod, "audio_output_available", lambda device=None: False)
    spk = Speaker(SpeakerConfig(backend="espeak", wav_dir=str(tmp_path / "wav")))
    spk.say(PROMPT)
    assert spk.wait_idle(20)
    item = spk.history[0]
    assert item.ok and item.backend == "espeak" and item.text == PROMPT, item.error
    assert item.wav_path is not None and Path(item.wav_path).parent == tmp_path / "wav"
    assert Path(item.wav_path).stat().st_size > 10_000
    assert _duration(item.wav_path) > 1.0  # nine syllables of speech, not an empty file
    spk.close()


@needs_espeak
def test_wav_backend_and_a_bad_voice(tmp_path: Path) -> None:
    spk = Speaker(SpeakerConfig(backend="wav", wav_dir=str(tmp_path), voice="zz-no-such-voice"))
    spk.say("e-bike detected", lang="en")
    spk.say(PROMPT)  # zh uses the configured (broken) voice
    assert spk.wait_idle(20)
    en, zh = spk.history
    assert en.ok and en.wav_path and _duration(en.wav_path) > 0.3
    assert not zh.ok and "espeak-ng failed" in (zh.error or "") and zh.wav_path is None
    spk.play(en.wav_path)  # no audio device: recorded, not played
    assert spk.wait_idle(5)
    assert spk.history[-1].ok and spk.history[-1].kind == "play" and spk.history[-1].wav_path == en.wav_path
    spk.close()
