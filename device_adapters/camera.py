"""Kiosk camera adapter: reads a camera (or a video file), decodes QR passes, publishes scans.

SPEC §2.2: at the pedestrian gate a pass is read by a hardware scanner or by this adapter.
In the site topology the kiosk camera is a device of kind ``scanner`` (demo: ``kiosk-cam``):
it publishes ``scanner/{id}/scan`` events and a retained ``scanner/{id}/availability`` with
``offline`` as its last will. It also answers snapshot requests with the same id on the
camera topics (``camera/{id}/snapshot/request`` → JPEG on ``camera/{id}/snapshot/{request}``),
so a kiosk camera answers on both subtrees.

A code held up to the lens is seen in many frames; ``Debouncer`` makes that one scan. One
thread reads and decodes (device_adapters/qr.py: a few ms per 1280×720 frame, inside a 25 fps
interval, so a live stream does not fall behind; one that drops is reopened). A video file is
read as fast as it decodes, or with ``loop=True`` (a demo clip) replayed at its frame rate.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np
import paho.mqtt.client as mqtt

from device_adapters.mqtt_url import make_client
from device_adapters.qr import DECODERS, DEFAULT_DECODER, decode
from device_adapters.sim_device import QOS, START_TIMEOUT, SimulatedDevice, preview
from device_adapters.topics import Topics, check_name, rfc3339

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
REOPEN_SECONDS = 3.0  # wait between attempts to reopen a live stream that stopped delivering
JOIN_TIMEOUT = 10.0


class CameraError(RuntimeError):
    """A frame source could not be opened."""


class Debouncer:
    """Lets a text through once per presentation: again only after ``seconds`` unseen."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds < 0:
            raise ValueError(f"debounce seconds must not be negative, not {seconds!r}")
        self.seconds, self.clock = seconds, clock  # clock: monotonic seconds; tests fake it
        self._last_seen: dict[str, float] = {}

    def admit(self, text: str) -> bool:
        """Record a sighting; True if it is a new scan. A sighting within ``seconds`` of the
        previous one extends the presentation: a code held up for ten seconds is one scan."""
        now = self.clock()
        # Forget texts unseen for longer than the window, so memory stays bounded.
        self._last_seen = {t: at for t, at in self._last_seen.items() if now - at <= self.seconds}
        new = text not in self._last_seen
        self._last_seen[text] = now
        return new


def _redact(spec: str) -> str:
    """The source spec with any password in its URL masked, for error messages and logs."""
    parts = urlsplit(spec)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return spec
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{hostport}"))


def _source_kind(spec: str) -> str:
    """'usb' for a camera index, 'stream' for an rtsp/http(s) URL, else 'file'."""
    if spec.strip().isdigit():
        return "usb"
    return "stream" if urlsplit(spec.strip()).scheme.lower() in STREAM_SCHEMES else "file"


def open_source(spec: str) -> cv2.VideoCapture:
    """Open a USB camera index ("0"), an rtsp:// or http(s):// stream, or a video file path.

    Raises CameraError with a sentence saying what could not be opened and what to check.
    """
    spec, kind = spec.strip(), _source_kind(spec)
    if kind == "usb":
        capture = cv2.VideoCapture(int(spec))
        hint = f"USB camera {spec}: is it connected, and not in use by another program?"
    elif kind == "stream":
        capture = cv2.VideoCapture(spec, cv2.CAP_FFMPEG)
        hint = f"camera stream {_redact(spec)}: check the address, credentials and network."
    elif not Path(spec).is_file():
        raise CameraError(f"Cannot open video file {spec!r}: no such file.")
    else:
        capture = cv2.VideoCapture(spec)
        hint = f"video file {spec!r}: OpenCV cannot decode it (unsupported format?)."
    if not capture.isOpened():
        capture.release()
        raise CameraError(f"Cannot open {hint}")
    return capture


class KioskCamera(SimulatedDevice):
    """A real camera as a gate device: QR scans out, snapshots on request (see module doc).

    ``start()`` opens the source, connects and waits until ``online``, then starts reading
    frames. With a video file and ``loop=False`` reading ends at the end of the file
    (``finished`` is set) while the device stays online for snapshots until ``stop()``, which
    stops reading, publishes ``offline`` and releases the capture.
    """

    kind = "scanner"

    def __init__(self, url: str, topics: Topics, device_id: str, source: str,
                 decoder: str = DEFAULT_DECODER, debounce_seconds: float = 3.0, jpeg_quality: int = 80,
                 *, loop: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        """Validate the settings and create the (not yet connected) client; opens nothing."""
        if decoder not in DECODERS:
            raise ValueError(f"unknown QR decoder {decoder!r}: choose one of {', '.join(DECODERS)}")
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be within 1..100, not {jpeg_quality!r}")
        super().__init__(url, topics, device_id)
        self.source, self.decoder, self.jpeg_quality = source, decoder, jpeg_quality
        self.loop, self.live = loop, _source_kind(source) != "file"
        self.debouncer = Debouncer(debounce_seconds, clock)
        self.finished = threading.Event()  # set when the reader thread has ended
        self.frames_read = self.scans_published = 0
        self._capture: cv2.VideoCapture | None = None
        self._latest: np.ndarray | None = None
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def _new_client(self) -> mqtt.Client:
        # As the simulators', but with a client id of its own: a real camera and a simulated
        # scanner with the same id must not keep disconnecting each other.
        client = make_client(self.url, f"kiosk-camera-{self.topics.site}-{self.device_id}",
                             will=(self.availability_topic, "offline", True))
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect, client.on_subscribe = self._on_connect, self._on_subscribe
        client.on_publish, client.on_message = self._on_publish, self._on_message
        client.on_disconnect = self._on_disconnect
        return client

    def subscriptions(self) -> list[str]:
        """Snapshot requests, on the camera subtree."""
        return [self.topics.snapshot_request(self.device_id)]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> KioskCamera:
        """Open the source (CameraError if it cannot be), come online, then start reading."""
        if self._running:
            return self
        self._capture = open_source(self.source)
        self._halt.clear()
        self.finished.clear()
        super().start(timeout)  # on failure it calls stop(), which releases the capture
        self._thread = threading.Thread(target=self._read_frames, name=f"kiosk-camera-{self.device_id}",
                                        daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until reading has ended (end of a video file); False on timeout."""
        return self.finished.wait(timeout)

    def on_stop(self) -> None:
        """Stop the reader thread before `offline` goes out, so no scan follows it."""
        self._halt.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_TIMEOUT)
            if thread.is_alive():  # stuck in a driver call; leave the capture to it
                log.warning("%r: frame reader did not stop within %s s", self, JOIN_TIMEOUT)
                return
        self._thread = None
        self._release_capture()

    def stop(self) -> None:
        """Stop reading, publish retained `offline`, disconnect and release the capture."""
        super().stop()
        if self._thread is None:  # start() may have failed before the device was running
            self._release_capture()

    def _release_capture(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()

    # -- frames (reader thread) ----------------------------------------------------------

    def _next_frame(self) -> np.ndarray | None:
        """The next frame; None at the end of a file (unless looping) or when halted."""
        rewound = False
        while not self._halt.is_set():
            ok, frame = self._capture.read() if self._capture is not None else (False, None)
            if ok:
                return frame
            if not self.live:
                # Rewind once per end of file; a file that yields nothing after a rewind ends.
                if self.loop and not rewound and self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0):
                    rewound = True
                    continue
                return None
            log.warning("%r: no frame from %s; reopening in %s s", self, _redact(self.source), REOPEN_SECONDS)
            if self._capture is not None:
                self._capture.release()
                self._capture = None
            if self._halt.wait(REOPEN_SECONDS):
                return None
            try:
                self._capture = open_source(self.source)
            except CameraError as exc:
                log.warning("%r: %s", self, exc)
        return None

    def _read_frames(self) -> None:
        interval = due = 0.0
        if self.loop and not self.live and self._capture is not None:
            interval, due = 1.0 / (self._capture.get(cv2.CAP_PROP_FPS) or 25.0), time.monotonic()
        try:
            while (frame := self._next_frame()) is not None:
                self._latest = frame  # one reference swap; the snapshot handler reads it as is
                self.frames_read += 1
                for text in decode(frame, self.decoder):
                    if self.debouncer.admit(text):
                        self._publish_scan(text)
                if interval:  # play a looping clip at its frame rate, never catching up a backlog
                    due = max(due + interval, time.monotonic())
                    if self._halt.wait(max(0.0, due - time.monotonic())):
                        break
        except Exception:  # a dead reader must not leave the device "online"
            log.exception("%r: frame reader failed; reporting offline", self)
            self.client.publish(self.availability_topic, "offline", qos=QOS, retain=True)
        finally:
            self.finished.set()

    def _publish_scan(self, text: str) -> None:
        payload = {"event_id": str(uuid.uuid4()), "text": text, "at": rfc3339()}
        self.publish_json(self.topics.scanner_scan(self.device_id), payload)
        self.scans_published += 1
        log.info("%r: scan %s published", self, payload["event_id"])

    # -- snapshots (paho's network thread) -----------------------------------------------

    def handle_message(self, msg: mqtt.MQTTMessage) -> None:
        """Answer a snapshot request with the latest frame as JPEG bytes."""
        try:
            request_id = check_name(json.loads(msg.payload)["id"], "snapshot request id")
        except (ValueError, TypeError, KeyError):
            log.warning("%r: malformed snapshot request dropped: %s", self, preview(msg.payload))
            return
        frame = self._latest
        if frame is None:
            log.warning("%r: snapshot %s requested before the first frame; not answered", self, request_id)
            return
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            log.error("%r: could not encode snapshot %s as JPEG", self, request_id)
            return
        self.client.publish(self.topics.snapshot_reply(self.device_id, request_id), jpeg.tobytes(), qos=QOS)
