"""What outputs keep of a photo: its ICC profile, EXIF (orientation reset to 1) and XMP, in JPEG and PNG outputs,
and nothing with --strip-metadata; bad metadata never fails an image."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

import sightspeed
from sightspeed.io.exif import carried_exif, jpeg_segments, tiff_orientation
from sightspeed.io.metadata import ImageMetadata, carry, read_metadata
from sightspeed.io.outdir import OutDirError
from sightspeed.io.pool import BufferPool
from sightspeed.io.write import encode_image, encode_jpeg, encode_png
from sightspeed.pipeline.standard import write_stage
from sightspeed.tasks import build

XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6" '
       b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Test</dc:creator></rdf:Description>'
       b'</rdf:RDF></x:xmpmeta>')
GPS = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}


def rgb_profile(size: int = 0) -> bytes:
    """littlecms's sRGB profile, grown to ``size`` bytes with zeros after its tags (its header's size says so):
    a real RGB profile of any size, so one over 64 KB needs several JPEG chunks."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    icc += bytes(max(0, size - len(icc)))
    icc[:4] = struct.pack(">I", len(icc))
    return bytes(icc)


def exif(orientation: int = 6, endian: str = ">") -> bytes:
    """EXIF with a camera, a time, GPS and ``orientation`` (PIL's writer; "Exif" header included)."""
    e = Image.Exif()
    e.endian = endian
    e.update({0x010F: "Canon", 0x0110: "Canon EOS R5", 0x0132: "2024:05:06 07:08:09", 0x0112: orientation})
    e.get_ifd(0x8825).update(GPS)
    return e.tobytes()


def png_xmp() -> dict:
    """PIL's PNG writer takes XMP as an iTXt chunk of its text info."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    return {"pnginfo": info}


def photo_jpeg(path, image: np.ndarray, icc: bytes, exif_bytes: bytes | None = None, xmp: bytes = XMP) -> str:
    """``image`` (BGR) saved by PIL as a JPEG with the profile, EXIF and XMP."""
    extra = {"exif": exif_bytes} if exif_bytes is not None else {}
    Image.fromarray(np.ascontiguousarray(image[..., ::-1])).save(path, "JPEG", quality=92, icc_profile=icc,
                                                                   xmp=xmp, **extra)
    return str(path)


def opened(path) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


def assert_carried(path, icc: bytes) -> None:
    image = opened(path)
    tags = image.getexif()
    assert image.info.get("icc_profile") == icc
    assert tags[0x010F] == "Canon" and tags[0x0110] == "Canon EOS R5" and tags[0x0132] == "2024:05:06 07:08:09"
    assert tags[0x0112] == 1  # the pixels are upright
    assert dict(tags.get_ifd(0x8825)) == GPS
    assert b'tiff:Orientation="1"' in image.info["xmp"] and b"<dc:creator>Test" in image.info["xmp"]


def assert_bare(path) -> None:
    image = opened(path)
    assert not image.info.get("icc_profile") and not image.getexif() and "xmp" not in image.info


def tiff_block(endian: str, thumbnail_last: bool = True) -> bytes:
    """A hand-made EXIF block: IFD0 (Make, Orientation 6) -> IFD1 (a thumbnail's offset and length), and the
    thumbnail's bytes at the end (``thumbnail_last``) or before IFD0's values."""
    thumb = b"\xff\xd8THUMBNAIL\xff\xd9"
    entry = endian + "HHI4s"
    ifd0 = 8
    ifd1 = ifd0 + 2 + 2 * 12 + 4
    values = ifd1 + 2 + 2 * 12 + 4
    make = b"Canon\x00"
    thumb_at = values + len(make) if thumbnail_last else values
    make_at = values if thumbnail_last else values + len(thumb)
    out = (b"II*\x00" if endian == "<" else b"MM\x00*") + struct.pack(endian + "I", ifd0)
    out += struct.pack(endian + "H", 2) + struct.pack(entry, 0x010F, 2, len(make), struct.pack(endian + "I", make_at))
    out += struct.pack(entry, 0x0112, 3, 1, struct.pack(endian + "H", 6) + b"\x00\x00")
    out += struct.pack(endian + "I", ifd1)
    out += struct.pack(endian + "H", 2) + struct.pack(entry, 0x0201, 4, 1, struct.pack(endian + "I", thumb_at))
    out += struct.pack(entry, 0x0202, 4, 1, struct.pack(endian + "I", len(thumb))) + struct.pack(endian + "I", 0)
    return out + (make + thumb if thumbnail_last else thumb + make)


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("thumbnail_last", [True, False])
def test_carried_exif_resets_the_orientation_in_place_and_unlinks_the_thumbnail(endian, thumbnail_last):
    block = tiff_block(endian, thumbnail_last)
    assert tiff_orientation(block) == 6
    out = carried_exif(block)
    assert tiff_orientation(out) == 1
    e = Image.Exif()
    e.load(b"Exif\x00\x00" + out)
    assert e[0x010F] == "Canon" and e[0x0112] == 1
    next_ifd = 8 + 2 + 2 * 12
    assert struct.unpack_from(endian + "I", out, next_ifd)[0] == 0  # IFD1 (the stale thumbnail) unlinked
    if thumbnail_last:  # its bytes end the block: cut off; otherwise the block keeps its layout byte for byte
        assert b"THUMBNAIL" not in out and len(out) == len(block) - 13
    else:
        assert len(out) == len(block)
    changed = [k for k in range(len(out)) if out[k] != block[k]]
    assert all(8 + 2 + 12 + 8 <= k < 8 + 2 + 12 + 10 or next_ifd <= k < next_ifd + 4 for k in changed)


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("icc_size", [0, 150_000])  # one APP2 chunk, and three
def test_read_and_splice_round_trip_jpeg_and_png(tmp_path, endian, icc_size):
    icc = rgb_profile(icc_size)
    src = photo_jpeg(tmp_path / "in.jpg", np.full((20, 30, 3), 90, np.uint8), icc, exif(6, endian))
    data = open(src, "rb").read()
    found = read_metadata(data, "JPEG")
    assert found.icc == icc and found.exif[:2] == (b"II" if endian == "<" else b"MM") and not found.notes
    assert tiff_orientation(found.exif) == 1 and b'tiff:Orientation="1"' in found.xmp
    for suffix in (".jpg", ".png"):
        out, notes = encode_image(np.zeros((30, 20, 3), np.uint8), suffix, 90, found)
        assert notes == []
        (tmp_path / f"out{suffix}").write_bytes(out)
        assert_carried(tmp_path / f"out{suffix}", icc)
        again = read_metadata(out, "JPEG" if suffix == ".jpg" else "PNG")
        assert (again.icc, again.exif, again.xmp) == (found.icc, found.exif, found.xmp)
    segments = list(jpeg_segments((tmp_path / "out.jpg").read_bytes()))
    assert max(stop - start for _, start, stop in segments) <= 65533
    assert sum(1 for m, s, _ in segments if m == 0xE2) == (3 if icc_size else 1)


def test_what_cannot_be_carried_is_left_out_with_a_note(tmp_path):
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    src = photo_jpeg(tmp_path / "lab.jpg", np.zeros((8, 8, 3), np.uint8), lab, exif())
    found = read_metadata(open(src, "rb").read(), "JPEG")
    assert found.icc is None and found.exif is not None and "ICC profile is for Lab data" in found.notes[0]
    # EXIF over 64 KB (a PNG can hold it, a JPEG segment cannot): the JPEG goes without, the PNG keeps it
    e = Image.Exif()
    e.update({0x010F: "Canon", 0x010E: "x" * 70_000})
    big = ImageMetadata(exif=e.tobytes()[6:], xmp=XMP)
    jpeg, notes = carry(encode_jpeg(np.zeros((8, 8, 3), np.uint8)), big)
    assert "EXIF of 70" in notes[0] and "not carried" in notes[0]
    assert opened(io.BytesIO(jpeg)).info["xmp"] == XMP and 0x010F not in opened(io.BytesIO(jpeg)).getexif()
    png, notes = carry(encode_png(np.zeros((8, 8, 3), np.uint8)), big)
    assert notes == [] and opened(io.BytesIO(png)).getexif()[0x010F] == "Canon"
    # an ICC profile with one of its two chunks missing
    two = photo_jpeg(tmp_path / "two.jpg", np.zeros((8, 8, 3), np.uint8), rgb_profile(100_000))
    data = open(two, "rb").read()
    second = data.index(b"ICC_PROFILE\x00\x02\x02") - 4
    (length,) = struct.unpack_from(">H", data, second + 2)
    found = read_metadata(data[:second] + data[second + 2 + length:], "JPEG")
    assert found.icc is None and "ICC profile incomplete (chunks 1 of 2)" in found.notes[0]


@pytest.mark.parametrize("payload", [b"garbage!" * 8, b"II*\x00" + struct.pack("<I", 4000) + bytes(20),
                                     b"MM\x00*" + struct.pack(">IH", 8, 500) + bytes(30)])
def test_a_corrupt_exif_is_not_carried_and_never_fails_the_image(tmp_path, payload):
    jpeg = encode_jpeg(np.full((16, 16, 3), 128, np.uint8))
    app1 = b"Exif\x00\x00" + payload
    data = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]
    found = read_metadata(data, "JPEG")
    assert found.exif is None and found.notes[0].startswith("EXIF unreadable")
    (tmp_path / "bad.jpg").write_bytes(data)

    def keep(item):
        item.output = item.image

    result = sightspeed.run(sightspeed.Pipeline([sightspeed.Stage("keep", keep)]), [str(tmp_path / "bad.jpg")],
                            tmp_path / "out")
    assert result.ok == 1 and "EXIF unreadable" in result.rows[0]["note"]
    assert not opened(result.rows[0]["outputs"][0]).getexif()


def test_png_webp_and_tiff_inputs(tmp_path):
    icc = rgb_profile()
    image = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    for fmt, kwargs in (("PNG", {"exif": exif(6, "<"), **png_xmp()}),
                        ("WEBP", {"exif": exif(6, "<"), "lossless": True, "xmp": XMP}),
                        ("TIFF", {"tiffinfo": {700: XMP}})):
        buf = io.BytesIO()
        image.save(buf, fmt, icc_profile=icc, **kwargs)
        found = read_metadata(buf.getvalue(), fmt)
        assert found.icc == icc and b'tiff:Orientation="1"' in found.xmp, fmt
        assert (tiff_orientation(found.exif) == 1) if fmt != "TIFF" else found.exif is None
    assert read_metadata(b"GIF89a", "GIF") is None


def _tagged_seeds() -> list[tuple[str, bytes]]:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (12, 16, 3), np.uint8))
    icc, seeds = rgb_profile(), []
    for fmt, kwargs in (("JPEG", {"exif": exif(6, "<"), "xmp": XMP}), ("PNG", {"exif": exif(6, ">"), **png_xmp()}),
                        ("WEBP", {"exif": exif(3, "<"), "xmp": XMP}), ("TIFF", {"tiffinfo": {700: XMP}})):
        buf = io.BytesIO()
        image.save(buf, fmt, icc_profile=icc, **kwargs)
        seeds.append((fmt, buf.getvalue()))
    return seeds


SEEDS = _tagged_seeds()


@st.composite
def damaged(draw) -> tuple[str, bytes]:
    """A tagged file with bytes changed in its headers (where the metadata is), maybe cut short."""
    fmt, seed = draw(st.sampled_from(SEEDS))
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, min(len(data), 2048) - 1))] = draw(st.integers(0, 255))
    return fmt, bytes(data[:draw(st.integers(0, len(data)))] if draw(st.booleans()) else data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(damaged())
def test_damaged_metadata_is_read_and_carried_without_raising(case):
    fmt, data = case
    found = read_metadata(data, fmt)
    jpeg, png = (encode_image(np.zeros((4, 4, 3), np.uint8), s, metadata=found)[0]
                 for s in (".jpg", ".png"))
    assert read_metadata(jpeg, "JPEG") is None or found is not None
    if found is not None and found.exif is not None:
        assert tiff_orientation(found.exif) == 1


def portrait(inputs, out, resume=False, **options):
    pool = BufferPool()
    result = sightspeed.run(build("portrait", {"save_mask": True, **options}, pool), inputs, out, pool=pool,
                            resume=resume)
    assert result.failed == 0, result.rows
    return result


@pytest.fixture(scope="module")
def tagged(photos, tmp_path_factory):
    """A real portrait stored sideways with EXIF orientation 6, an ICC profile of 3 JPEG chunks, GPS and XMP; and a
    PNG of it (upright) with the same profile and EXIF."""
    folder = tmp_path_factory.mktemp("tagged")
    icc = rgb_profile(150_000)
    upright = photos[0]
    sideways = np.ascontiguousarray(np.rot90(upright, 1))  # orientation 6 says: turn it 90 degrees clockwise
    jpeg = photo_jpeg(folder / "sideways.jpg", sideways, icc, exif(6, "<"))
    png = folder / "upright.png"
    Image.fromarray(np.ascontiguousarray(upright[..., ::-1])).save(png, "PNG", icc_profile=icc, exif=exif(1, ">"),
                                                                    **png_xmp())
    return {"jpeg": jpeg, "png": str(png), "icc": icc, "shape": upright.shape}


def test_portrait_outputs_carry_the_photos_metadata(tagged, tmp_path):
    result = portrait([tagged["jpeg"], tagged["png"]], tmp_path / "out")
    assert result.session.config["strip_metadata"] is False
    for row in result.rows:
        jpg = next(o for o in row["outputs"] if o.endswith(".jpg"))
        assert_carried(jpg, tagged["icc"])
        assert opened(jpg).size == (tagged["shape"][1], tagged["shape"][0])  # upright, as the input says
        assert "note" not in row  # a face found in both: the sideways one was turned upright before detection
        mask = opened(next(o for o in row["outputs"] if o.endswith("_mask.png")))
        assert "icc_profile" not in mask.info and not mask.getexif()  # data, not a photo
    with pytest.raises(OutDirError, match="strip_metadata"):  # a resume must make its outputs the same way
        portrait([tagged["jpeg"]], tmp_path / "out", strip_metadata=True, resume=True)


def test_a_png_output_carries_it_and_run_can_strip_it(tagged, tmp_path):
    def keep(item):
        item.output = item.image

    pipeline = sightspeed.Pipeline([sightspeed.Stage("keep", keep), write_stage(suffix=".png")])
    row = sightspeed.run(pipeline, [tagged["jpeg"]], tmp_path / "png").rows[0]
    assert row["outputs"][0].endswith(".png") and opened(row["outputs"][0]).format == "PNG"
    assert_carried(row["outputs"][0], tagged["icc"])
    bare = sightspeed.run(pipeline, [tagged["jpeg"]], tmp_path / "bare", strip_metadata=True)
    assert bare.session.config["strip_metadata"] is True
    assert_bare(bare.rows[0]["outputs"][0])


def test_strip_metadata_on_the_command_line(tagged, tmp_path):
    from typer.testing import CliRunner

    from sightspeed.cli import app

    result = CliRunner().invoke(app, ["run", "portrait", tagged["jpeg"], "--strip-metadata", "--save-mask",
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "session.json").read_text())["config"]["strip_metadata"] is True
    outputs = sorted((tmp_path / "out").glob("*.jpg")) + sorted((tmp_path / "out").glob("*.png"))
    assert len(outputs) == 2
    for path in outputs:
        assert_bare(path)
    assert opened(outputs[0]).size == (tagged["shape"][1], tagged["shape"][0])  # still turned upright
