from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest


@pytest.fixture(scope="session")
def sample_paths() -> list[str]:
    """The built-in real portrait photos (matplotlib's grace_hopper.jpg, scikit-image's astronaut.png)."""
    from sightspeed.samples import sample_paths

    return sample_paths(quiet=True)


@pytest.fixture(scope="session")
def photos(sample_paths) -> list[np.ndarray]:
    from sightspeed.io.decode import read_image

    return [read_image(p) for p in sample_paths]


@pytest.fixture(scope="session")
def portrait_jpegs(tmp_path_factory, photos) -> list[str]:
    """Real photos as JPEGs at a few sizes (one landscape HD frame with the person off-centre)."""
    import cv2
    import simplejpeg

    folder = tmp_path_factory.mktemp("portraits")
    paths = []
    for k, photo in enumerate(photos):
        path = folder / f"photo{k}.jpg"
        path.write_bytes(simplejpeg.encode_jpeg(photo, 92, "BGR"))
        paths.append(str(path))
    y, x = np.mgrid[:720, :1280]
    noise = np.random.default_rng(0).integers(0, 40, (720, 1280, 3))
    canvas = (np.dstack([x / 8 % 200, y / 5 % 180 + 40, (x + y) / 12 % 160]) + noise).astype(np.uint8)
    person = cv2.resize(photos[0], (560, 656))
    canvas[720 - 656:, 600:1160] = person
    path = folder / "hd_offcentre.jpg"
    path.write_bytes(simplejpeg.encode_jpeg(canvas, 92, "BGR"))
    paths.append(str(path))
    return paths


def cores_free_now(threads: int = 2, seconds: float = 0.3) -> float:
    """How many cores two busy threads get right now: process CPU time / wall time while ``threads`` Python threads
    run numpy work that releases the GIL (independent of sightspeed's own CPU accounting)."""
    import threading
    import time

    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((256, 256))

    def spin(until: float) -> None:
        while time.perf_counter() < until:
            a @ a

    with threadpool_limits(1):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        workers = [threading.Thread(target=spin, args=(wall0 + seconds,)) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return (time.process_time() - cpu0) / (time.perf_counter() - wall0)


@pytest.fixture()
def two_free_cores():
    """Tests that check a 2-thread stage's CPU is counted need two cores free while they run: on a machine that
    other work keeps busy they are skipped with the reading, not failed (the accounting cannot show CPU the
    process never got)."""
    got = cores_free_now(2)
    if got < 1.7:
        pytest.skip(f"the machine is busy: two busy threads got {got:.2f} cores just now (need 1.7)")
    return got


@pytest.fixture(scope="session")
def converted_cache(tmp_path_factory):
    """A sightspeed cache of its own holding the PP-OCRv4 detector converted to TensorFlow (960x960; ~40 s, once
    per session): the tests that convert or run the journey share it, and no tuned config of this machine's cache
    reaches them. Skips where the converter is not installed."""
    from sightspeed.models import convert

    if convert.missing():
        pytest.skip(f"the converter is not installed ({', '.join(convert.missing())}): {convert.INSTALL}")
    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("SIGHTSPEED_CACHE", str(cache))
    try:
        path = convert.to_tensorflow("ppocr-det-v4", size=(960, 960))
    finally:
        mp.undo()
    return cache, path


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raising KeyboardInterrupt in this process, as in a terminal, for the test's length: a CI job started
    in the background inherits SIGINT ignored, and then no Ctrl-C ever arrives."""
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
