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
