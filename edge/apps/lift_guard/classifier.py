"""Getting the site's second-stage classifier onto the device: download, verify, load — or fall back, saying why.

The server's deploy action puts ``classifier: {version, sha256, url}`` into the lift's desired config (retained on
the broker, so a lift that is offline gets it when it reconnects; the applied config survives restarts). Here, in
a thread of its own (the config is accepted at once, the camera loop never waits):

1. the file is taken from ``<data_dir>/classifiers/<sha256>.json`` if it is already there, else downloaded
   (retrying with back-off while the config still asks for it; the detector-only rule runs meanwhile);
2. checked: size, SHA-256 against the config's, format, shapes, classes, and that it was trained on this device's
   feature extractor (the backbone file's own SHA-256 is checked when it is loaded);
3. loaded: the pipeline gets a :class:`~edge.vision.second_stage.SecondStage`; ``lift.classifier`` says
   ``loaded`` with the version, and the gauges report it.

Any failed check: ``lift.classifier`` ``fallback`` with the reason (a warning to the property manager), gauge
``classifier_state = fallback``, and the guard keeps the detector-only rule. ``classifier: null`` (the server's
one-click rollback) turns it off.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from edge.apps.base import Emit
from edge.vision.detector import resolve_path
from edge.vision.second_stage import SecondStage, SecondStageConfig
from linli.contract import lift_guard as lc
from linli.liftcls import (
    MAX_FILE_BYTES,
    Classifier,
    ClassifierError,
    FeatureExtractor,
    parse_file,
    resolve_backbone,
)

from .config import ClassifierConfig

#: Download retries: first wait, longest wait (s).
RETRY_S = (1.0, 60.0)


class ClassifierSlot:
    """The classifier the config asks for, and the one running."""

    def __init__(self, data_dir: Path, emit: Emit, logger: logging.Logger,
                 install: Callable[[SecondStage | None], None]) -> None:
        self.dir = data_dir / "classifiers"
        self.emit = emit
        self.log = logger
        self.install = install
        self.state = "off"
        self.version: str | None = None
        self.reason: str | None = None
        self._want: ClassifierConfig | None = None
        self._gen = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._extractor: FeatureExtractor | None = None
        self._thread: threading.Thread | None = None

    def want(self, cfg: ClassifierConfig | None, stage: SecondStageConfig, acting: frozenset[str]) -> None:
        """Ask for this classifier (None: none). Returns at once; the work happens in a thread."""
        with self._lock:
            if cfg == self._want and self.state in ("loaded", "loading"):
                return
            self._want = cfg
            self._gen += 1
            gen = self._gen
            if cfg is None:
                was = self.state
                self.state, self.version, self.reason = "off", None, None
                self.install(None)
                if was != "off":
                    self.emit(lc.ClassifierState(state="off"))
                    self.log.info("second-stage classifier off: detector-only rule")
                return
            self.state = "loading"
        self._thread = threading.Thread(target=self._load, args=(gen, cfg, stage, acting), daemon=True,
                                        name="lift-classifier")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _current(self, gen: int) -> bool:
        return gen == self._gen and not self._stop.is_set()

    def _load(self, gen: int, cfg: ClassifierConfig, stage: SecondStageConfig, acting: frozenset[str]) -> None:
        wanted = f"{cfg.version}@{cfg.sha256[:12]}"
        try:
            data = self._fetch(gen, cfg)
            if data is None:
                return  # superseded or stopping
            if self._extractor is None:
                self._extractor = FeatureExtractor(resolve_backbone())
            f = parse_file(data, cfg.sha256, self._extractor.sha256)
            clf = Classifier(f, cfg.sha256)
            second = SecondStage(stage, clf, self._extractor, acting)
        except (ClassifierError, OSError, ValueError, RuntimeError) as exc:
            with self._lock:
                if not self._current(gen):
                    return
                self.state, self.version, self.reason = "fallback", None, str(exc)[:500]
                self.install(None)
            self.log.error("second-stage classifier %s refused, detector-only rule: %s", wanted, exc)
            self.emit(lc.ClassifierState(state="fallback", wanted=wanted, reason=str(exc)[:500]))
            return
        with self._lock:
            if not self._current(gen):
                return
            self.state, self.version, self.reason = "loaded", clf.version, None
            self.install(second)
        self.log.info("second-stage classifier %s loaded (%s)", clf.version, ", ".join(clf.classes))
        self.emit(lc.ClassifierState(state="loaded", version=clf.version, wanted=wanted))

    def _fetch(self, gen: int, cfg: ClassifierConfig) -> bytes | None:
        cached = self.dir / f"{cfg.sha256}.json"
        if cfg.path is not None:
            return resolve_path(cfg.path).read_bytes()
        if cached.is_file():
            return cached.read_bytes()
        assert cfg.url is not None
        import httpx  # only a download needs it: a lift agent never loads it otherwise (~6 MB on a Pi)

        wait = RETRY_S[0]
        while self._current(gen):
            try:
                r = httpx.get(cfg.url, timeout=30.0, follow_redirects=False)
                if r.status_code >= 500:
                    raise httpx.HTTPError(f"HTTP {r.status_code}")
                if r.status_code != 200:
                    raise ClassifierError(f"download refused: HTTP {r.status_code} from {cfg.url}")
                data = r.content
                if len(data) > MAX_FILE_BYTES:
                    raise ClassifierError(f"download is {len(data)} bytes, more than {MAX_FILE_BYTES}")
                parse_file(data, cfg.sha256, None)  # never keep a bad file
                self.dir.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_suffix(".part")
                tmp.write_bytes(data)
                os.replace(tmp, cached)
                return data
            except httpx.HTTPError as exc:
                self.log.warning("classifier download from %s failed (%s); again in %.0f s", cfg.url, exc, wait)
                self._stop.wait(wait)
                wait = min(wait * 2, RETRY_S[1])
        return None


def load_second_stage(cfg: ClassifierConfig, stage: SecondStageConfig, acting: frozenset[str],
                      extractor: FeatureExtractor | None = None) -> SecondStage:
    """Load a classifier from a local file at once (``linli replay``, the benchmark). Raises ClassifierError."""
    if cfg.path is None:
        raise ClassifierError("a replay loads a classifier from a local file (classifier.path), not a download")
    try:
        data = resolve_path(cfg.path).read_bytes()
    except OSError as exc:
        raise ClassifierError(f"cannot read {cfg.path}: {exc}") from None
    ex = extractor or FeatureExtractor(resolve_backbone())
    f = parse_file(data, cfg.sha256, ex.sha256)
    return SecondStage(stage, Classifier(f, cfg.sha256), ex, acting)
