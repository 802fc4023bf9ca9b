from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.hal import camera as camera_mod
from edge.hal.camera import Camera, CameraError, mask_source
from edge.hal.config import CameraConfig
from edge.hal.sim import make_scene_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_scene_video(str(tmp_path_factory.mktemp("video") / "scene.mp4"), frames=12, fps=5, size=(320, 240))


def _cam(source: int | str, **kw: object) -> Camera:
    return Camera("car", CameraConfig(source=source, **kw))


def test_scene_video_is_a_real_mp4v_file(video: str) -> None:
    cap = cv2.VideoCapture(video)
    assert cap.isOpened()
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert b"mp4v" in Path(video).read_bytes()[-4096:]  # the codec tag in the moov atom (written last)
    ok, first = cap.read()
    ok2, second = cap.read()
    cap.release()
    assert ok and ok2 and first.shape == (240, 320, 3)
    assert float(np.abs(first.astype(int) - second.astype(int)).mean()) > 0.5  # the scene moves


def test_custom_painter(tmp_path: Path) -> None:
    def paint(img: np.ndarray, i: int) -> None:
        img[:] = (0, 0, 50 + 40 * i)

    path = make_scene_video(str(tmp_path / "sub" / "red.mp4"), frames=3, fps=5, size=(64, 48), painter=paint)
    cam = _cam(path, fps=50)
    cam.open()
    reds = [int(cam.read().image[24, 32, 2]) for _ in range(3)]
    cam.close()
    assert reds[0] < reds[1] < reds[2] and abs(reds[2] - 130) < 15


def test_file_plays_at_its_own_rate_in_real_time(video: str) -> None:
    cam = _cam(video, fps=20)  # asking for more frames than the 5 fps file has: its own rate wins
    cam.open()
    t0 = time.monotonic()
    frames = [cam.read() for _ in range(5)]
    elapsed = time.monotonic() - t0
    cam.close()
    assert [f.seq for f in frames] == list(range(1, 6))
    assert frames[0].image.shape == (240, 320, 3) and frames[0].image.dtype == np.uint8
    assert 0.7 <= elapsed <= 1.3  # 4 periods of the file's 200 ms after the first frame
    gaps = np.diff([f.ts for f in frames])
    assert 0.15 <= float(np.median(gaps)) <= 0.25
    assert not np.array_equal(frames[0].image, frames[4].image)


def test_a_faster_file_is_sampled_down_to_the_configured_fps_still_in_real_time(tmp_path: Path) -> None:
    def paint(img: np.ndarray, i: int) -> None:
        img[:] = (0, 0, 10 * i)

    path = make_scene_video(str(tmp_path / "ten.mp4"), frames=20, fps=10, size=(64, 48), painter=paint)
    cam = _cam(path, fps=5)
    cam.open()
    t0 = time.monotonic()
    frames = []
    with pytest.raises(CameraError, match="end of file"):
        while True:
            frames.append(cam.read())
    elapsed = time.monotonic() - t0
    cam.close()
    # every other frame of a 2 s file, in 2 s (not 4 s: one file frame per period was 0.5x real time)
    assert len(frames) == 10 and 1.5 <= elapsed <= 2.6, (len(frames), elapsed)
    reds = [int(f.image[24, 32, 2]) for f in frames]
    assert all(abs(r - 20 * k) <= 8 for k, r in enumerate(reds)), reds


def test_fast_file_playback_drops_nothing_and_stamps_the_file_time(video: str) -> None:
    cam = _cam(video, fps=5, file_speed="fast")
    cam.open()
    t0 = time.monotonic()
    frames = [cam.read() for _ in range(12)]
    elapsed = time.monotonic() - t0
    with pytest.raises(CameraError, match="end of file after 12 frames"):
        cam.read()
    cam.close()
    assert [f.seq for f in frames] == list(range(1, 13)) and elapsed < 1.5
    gaps = np.diff([f.ts for f in frames])
    assert np.allclose(gaps, 0.2, atol=0.01)  # the file's 5 fps, however fast it was read


def test_fps_measured(video: str) -> None:
    cam = _cam(video, fps=25)
    assert cam.fps_measured == 0.0
    cam.open()
    for _ in range(6):
        cam.read()
    assert 4 <= cam.fps_measured <= 6.5  # the 5 fps file's own rate
    snap = cam.snapshot()
    assert snap["open"] is True and snap["frames"] >= 6 and snap["fps"] == 25
    cam.close()
    assert cam.snapshot()["open"] is False


def test_end_of_file_is_an_error(video: str) -> None:
    cam = _cam(video, fps=100, file_speed="fast")
    cam.open()
    assert [cam.read().seq for _ in range(12)] == list(range(1, 13))
    with pytest.raises(CameraError, match=r"camera 'car': end of file after 12 frames"):
        cam.read()
    with pytest.raises(CameraError, match="end of file"):
        cam.read()  # stays failed until reopened
    assert not cam.is_open
    cam.open()  # open() again starts the file over
    assert cam.read().seq == 13
    cam.close()


def test_loop_restarts_the_file(video: str) -> None:
    cam = _cam(video, fps=100, loop=True, file_speed="fast")
    cam.open()
    frames = [cam.read() for _ in range(30)]
    cam.close()
    assert len(frames) == 30 and frames[-1].seq >= 30
    assert cam.errors == 0


def test_scaling_to_the_configured_size(video: str) -> None:
    cam = _cam(video, fps=100, width=160, height=120, file_speed="fast")
    cam.open()
    assert cam.read().image.shape == (120, 160, 3)
    cam.close()
    cam = _cam(video, fps=100, width=80, file_speed="fast")
    cam.open()
    assert cam.read().image.shape == (60, 80, 3)
    cam.close()


def test_missing_file_names_camera_and_path(tmp_path: Path) -> None:
    missing = tmp_path / "x.mp4"
    with pytest.raises(CameraError) as exc:
        _cam(str(missing)).open()
    assert str(exc.value) == f"camera 'car': cannot open {missing}: no such file"
    with pytest.raises(CameraError, match="not a regular file"):
        _cam(str(tmp_path)).open()


def test_corrupt_files(tmp_path: Path, video: str) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    truncated = tmp_path / "truncated.mp4"
    data = Path(video).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    for bad in (junk, truncated):
        cam = _cam(str(bad))
        with pytest.raises(CameraError, match=rf"camera 'car': cannot open {bad}: OpenCV could not open it"):
            cam.open()
        assert cam.errors == 1 and "cannot open" in (cam.last_error or "")


def test_read_before_open() -> None:
    with pytest.raises(CameraError, match="camera 'car': not open"):
        _cam("whatever.mp4").read()


class _BlockingCapture:
    """Stands in for a capture whose grab() hangs, as OpenCV does on some dead streams."""

    def __init__(self, release: threading.Event, block_open: bool = False) -> None:
        self.release_evt = release
        if block_open:
            release.wait()

    def isOpened(self) -> bool:
        return True

    def grab(self) -> bool:
        self.release_evt.wait()
        return False

    def retrieve(self) -> tuple[bool, None]:
        return False, None

    def set(self, prop: int, value: float) -> bool:
        return True

    def release(self) -> None:
        pass


@pytest.fixture
def unblock() -> Iterator[threading.Event]:
    evt = threading.Event()
    yield evt
    evt.set()


def test_read_never_hangs_on_a_blocking_source(monkeypatch: pytest.MonkeyPatch, unblock: threading.Event) -> None:
    monkeypatch.setattr(camera_mod, "open_capture", lambda cfg: _BlockingCapture(unblock))
    cam = _cam("rtsp://10.0.0.9/stream", read_timeout_s=0.3)
    cam.open()
    for _ in range(2):
        t0 = time.monotonic()
        with pytest.raises(CameraError, match=r"camera 'car': no frame within 0.3 s from rtsp://10.0.0.9/stream"):
            cam.read()
        assert 0.25 <= time.monotonic() - t0 < 0.6
    t0 = time.monotonic()
    cam.close()  # the hung thread is abandoned, not waited for forever
    assert time.monotonic() - t0 < 1.5
    assert cam.errors == 2 and cam.fps_measured == 0.0


def test_open_never_hangs_on_a_blocking_source(monkeypatch: pytest.MonkeyPatch, unblock: threading.Event) -> None:
    monkeypatch.setattr(camera_mod, "open_capture", lambda cfg: _BlockingCapture(unblock, block_open=True))
    cam = _cam("rtsp://10.0.0.9/stream", open_timeout_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(CameraError, match=r"cannot open rtsp://10.0.0.9/stream: no answer within 0.3 s"):
        cam.open()
    assert time.monotonic() - t0 < 1.2


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers (a hung camera)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv.getsockname()[1]
    srv.close()


def test_dead_rtsp_camera_fails_to_open_in_time(silent_server: int) -> None:
    cam = _cam(f"rtsp://admin:secret@127.0.0.1:{silent_server}/h264", open_timeout_s=0.5)
    t0 = time.monotonic()
    with pytest.raises(CameraError) as exc:
        cam.open()
    assert time.monotonic() - t0 < 2.0
    assert "secret" not in str(exc.value) and f"rtsp://admin:***@127.0.0.1:{silent_server}/h264" in str(exc.value)


def _mjpeg_server(frames: int, sent: threading.Event, stop: threading.Event) -> int:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
        for i in range(frames):
            _ok, jpg = cv2.imencode(".jpg", np.full((120, 160, 3), (i * 7) % 256, np.uint8))
            body = jpg.tobytes()
            head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(body)
            conn.sendall(head + body + b"\r\n")
            time.sleep(0.01)
        sent.set()
        stop.wait(10)  # the camera freezes: connection open, no more data
        conn.close()
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def test_stalled_http_stream_gives_frames_then_an_error_in_time() -> None:
    sent, stop = threading.Event(), threading.Event()
    port = _mjpeg_server(40, sent, stop)
    cam = _cam(f"http://127.0.0.1:{port}/video.mjpg", fps=50, read_timeout_s=0.4, open_timeout_s=3)
    try:
        cam.open()
        first = cam.read()
        assert first.image.shape == (120, 160, 3)
        assert sent.wait(3)
        t0 = time.monotonic()
        with pytest.raises(CameraError, match="camera 'car'"):
            while True:
                cam.read()
        assert time.monotonic() - t0 < 1.5
    finally:
        stop.set()
        cam.close()


def test_snapshot_masks_credentials() -> None:
    cam = _cam("rtsp://admin:s3cr3t@10.0.0.9:554/h264")
    snap = cam.snapshot()
    assert snap["source"] == "rtsp://admin:***@10.0.0.9:554/h264" and snap["open"] is False
    assert mask_source(0) == "0" and mask_source("/data/lift.mp4") == "/data/lift.mp4"
