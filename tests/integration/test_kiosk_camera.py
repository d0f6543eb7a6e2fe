"""The kiosk camera adapter (device_adapters/camera.py) against a real Mosquitto.

A generated video file stands in for the camera. The app's side is a plain paho client;
every test uses its own site so retained availability never leaks between tests, and every
wait is a queue or an Event with a timeout.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from device_adapters.camera import CameraError, KioskCamera, open_source
from device_adapters.mqtt_url import connect_args, make_client
from device_adapters.topics import Topics, parse_rfc3339
from tests.plugins.mosquitto import MosquittoServer
from tests.support.qrframes import blank_frame, make_frames, write_video

TIMEOUT = 15.0
DEVICE = "kiosk-cam"
TEXTS = ("GP1.pass-one.9f2c1d0e7a6b5c4d3e2f1a0b", "GP1.pass-two.0a1b2c3d4e5f6a7b8c9d0e1f")
HELD_FRAMES = 15


class Listener:
    """The app's side: subscribed to every topic of the site, one queue per topic."""

    def __init__(self, url: str, topic_filter: str) -> None:
        self.client = make_client(url, f"app-{uuid.uuid4().hex[:12]}")
        self._queues: dict[str, queue.Queue[mqtt.MQTTMessage]] = {}
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda c, u, mid, codes, p: subscribed.set()
        self.client.on_message = lambda c, u, msg: self.queue(msg.topic).put(msg)
        args = connect_args(url)
        self.client.connect(args["host"], args["port"])
        self.client.loop_start()
        assert subscribed.wait(TIMEOUT), "listener did not subscribe"

    def queue(self, topic: str) -> queue.Queue[mqtt.MQTTMessage]:
        with self._lock:
            return self._queues.setdefault(topic, queue.Queue())

    def get(self, topic: str) -> bytes:
        try:
            return self.queue(topic).get(timeout=TIMEOUT).payload
        except queue.Empty:
            pytest.fail(f"nothing arrived on {topic} within {TIMEOUT} s")

    def pending(self, topic: str) -> list[bytes]:
        q, items = self.queue(topic), []
        while not q.empty():
            items.append(q.get_nowait().payload)
        return items

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(TIMEOUT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client.reinitialise()  # closes paho's socket pair (filterwarnings=error)


@pytest.fixture
def topics() -> Topics:
    return Topics("gatehouse", f"cam{uuid.uuid4().hex[:10]}")


@pytest.fixture
def listener(mosquitto: MosquittoServer, topics: Topics) -> Iterator[Listener]:
    probe = Listener(mosquitto.url, f"{topics.prefix}/{topics.site}/#")
    yield probe
    probe.close()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two passes, each held up for 15 frames, then an empty scene for 10 frames."""
    frames = [frame for text in TEXTS for frame, _ in make_frames(HELD_FRAMES, seed=7, texts=[text])]
    rng = np.random.default_rng(8)
    frames += [blank_frame(rng) for _ in range(10)]
    # 50 fps: a looping camera plays the file in real time, 0.8 s per pass.
    return write_video(tmp_path_factory.mktemp("video") / "kiosk.avi", frames, fps=50)


def test_generated_video_reads_back(video: Path) -> None:
    """write_video's format is one this OpenCV build can read again, frame for frame."""
    capture = open_source(str(video))
    try:
        count = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            assert frame.shape == (720, 1280, 3)
            count += 1
    finally:
        capture.release()
    assert count == 2 * HELD_FRAMES + 10


def test_one_scan_per_presented_pass_and_snapshots(mosquitto: MosquittoServer, topics: Topics,
                                                  listener: Listener, video: Path) -> None:
    """Each pass held up for many frames is published once, as a contract scan event."""
    camera = KioskCamera(mosquitto.url, topics, DEVICE, str(video), debounce_seconds=3.0)
    availability = topics.availability("scanner", DEVICE)
    camera.start()
    try:
        assert listener.get(availability) == b"online"
        assert camera.wait(TIMEOUT), "the camera did not reach the end of the video file"
        assert camera.frames_read == 2 * HELD_FRAMES + 10

        # A snapshot reply is published after every scan, so once it is here all scans are too.
        request_id = uuid.uuid4().hex
        listener.publish(topics.snapshot_request(DEVICE), json.dumps({"id": request_id}))
        jpeg = listener.get(topics.snapshot_reply(DEVICE, request_id))
        assert jpeg.startswith(b"\xff\xd8")
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (720, 1280, 3)

        scans = [json.loads(p) for p in listener.pending(topics.scanner_scan(DEVICE))]
        assert [scan["text"] for scan in scans] == list(TEXTS)
        for scan in scans:
            assert set(scan) == {"event_id", "text", "at"}
            uuid.UUID(scan["event_id"])
            parse_rfc3339(scan["at"])
        assert scans[0]["event_id"] != scans[1]["event_id"]
    finally:
        camera.stop()
    assert listener.get(availability) == b"offline"
    assert camera._capture is None, "stop() must release the capture"


def test_malformed_snapshot_request_is_dropped(mosquitto: MosquittoServer, topics: Topics,
                                               listener: Listener, video: Path) -> None:
    """A bad request neither crashes the device nor gets an answer; the next good one does."""
    camera = KioskCamera(mosquitto.url, topics, DEVICE, str(video))
    camera.start()
    try:
        assert camera.wait(TIMEOUT)
        listener.publish(topics.snapshot_request(DEVICE), "not json")
        listener.publish(topics.snapshot_request(DEVICE), json.dumps({"id": "../x"}))
        listener.publish(topics.snapshot_request(DEVICE), json.dumps({"id": "good"}))
        assert listener.get(topics.snapshot_reply(DEVICE, "good")).startswith(b"\xff\xd8")
        replies = [t for t in listener._queues if "/snapshot/" in t and not t.endswith("/request")]
        assert replies == [topics.snapshot_reply(DEVICE, "good")]
    finally:
        camera.stop()


def test_loop_plays_the_file_again_until_stopped(mosquitto: MosquittoServer, topics: Topics,
                                                 listener: Listener, video: Path) -> None:
    """With loop=True a clip keeps playing (demo kiosks), and stop() ends it mid-stream."""
    sightings, looped = itertools.count(1), threading.Event()

    def clock() -> float:  # called once per decoded code; one pass holds at most 2 * 15
        if next(sightings) > 2 * HELD_FRAMES:
            looped.set()
        return 0.0

    camera = KioskCamera(mosquitto.url, topics, DEVICE, str(video), loop=True, clock=clock)
    camera.start()
    try:
        assert looped.wait(TIMEOUT), "the camera did not play the file a second time"
        assert not camera.finished.is_set()
    finally:
        camera.stop()
    assert camera.finished.is_set()
    assert camera.frames_read > 2 * HELD_FRAMES + 10
    assert listener.get(topics.availability("scanner", DEVICE)) == b"online"
    assert listener.get(topics.availability("scanner", DEVICE)) == b"offline"


def test_unopenable_sources_raise_a_clear_error(tmp_path: Path) -> None:
    """A wrong camera setting is one sentence naming the source, and nothing is left open."""
    with pytest.raises(CameraError, match="no such file"):
        open_source(str(tmp_path / "missing.avi"))
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"this is not a video")
    with pytest.raises(CameraError, match="cannot decode"):
        open_source(str(junk))


def test_start_fails_before_going_online_when_the_source_is_missing(
        mosquitto: MosquittoServer, topics: Topics, listener: Listener, tmp_path: Path) -> None:
    """A camera that cannot see never announces itself online."""
    camera = KioskCamera(mosquitto.url, topics, DEVICE, str(tmp_path / "missing.avi"))
    with pytest.raises(CameraError):
        camera.start()
    camera.stop()
    assert listener.pending(topics.availability("scanner", DEVICE)) == []
