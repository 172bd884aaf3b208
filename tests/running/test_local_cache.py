"""The local cache folder stays bounded: unreachable blobs go, and the total stays capped."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from buildorch.running import cache
from buildorch.running.cache import SIZES, gc_local_cache, trim_local_caches


def _blob(root: Path, data: bytes) -> str:
    h = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / h).write_bytes(data)
    return h


def test_gc_keeps_what_the_index_reaches_and_drops_the_rest(tmp_path: Path) -> None:
    layer = _blob(tmp_path, b"layer")
    config = _blob(tmp_path, b"{}")
    manifest = _blob(tmp_path, json.dumps({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"digest": f"sha256:{config}", "mediaType": "application/json"},
        "layers": [{"digest": f"sha256:{layer}", "mediaType": "application/gzip"}]}).encode())
    stale = _blob(tmp_path, b"old layer from the previous build")
    (tmp_path / "index.json").write_text(json.dumps({"manifests": [
        {"digest": f"sha256:{manifest}",
         "mediaType": "application/vnd.oci.image.index.v1+json"}]}))
    freed = gc_local_cache(tmp_path)
    left = {p.name for p in (tmp_path / "blobs" / "sha256").iterdir()}
    assert left == {layer, config, manifest}
    assert stale not in left and freed == len(b"old layer from the previous build")


def test_gc_without_an_index_deletes_nothing(tmp_path: Path) -> None:
    kept = _blob(tmp_path, b"x")
    assert gc_local_cache(tmp_path) == 0
    assert (tmp_path / "blobs" / "sha256" / kept).exists()


def test_trim_drops_oldest_image_caches_but_never_the_one_just_written(tmp_path: Path) -> None:
    for i, name in enumerate(["old", "mid", "new"]):
        d = tmp_path / name
        d.mkdir()
        (d / "blob").write_bytes(b"x" * 1000)
        os.utime(d, (1000 + i, 1000 + i))
    assert trim_local_caches(tmp_path, 2500, keep="old") == ["mid"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["new", "old"]
    assert trim_local_caches(tmp_path, 0, keep="new") == []   # 0: no cap


def test_trim_walks_the_others_only_near_the_cap(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "blob").write_bytes(b"x" * 100)
    assert trim_local_caches(tmp_path, 10_000, keep="a") == []   # learns b's size once
    walked: list[str] = []
    real = cache._tree_size
    monkeypatch.setattr(cache, "_tree_size", lambda p: walked.append(p.name) or real(p))
    assert trim_local_caches(tmp_path, 10_000, keep="a") == []
    assert walked == ["a"], "far from the cap, only the cache just written is measured"
    (tmp_path / "a" / "big").write_bytes(b"x" * 9_950)
    walked.clear()
    assert trim_local_caches(tmp_path, 10_000, keep="a") == ["b"]
    assert sorted(walked) == ["a", "b"]


def test_trim_tolerates_entries_vanishing_under_the_walk(tmp_path: Path) -> None:
    """The flaky demo-stack test's root cause: BuildKit creates and removes `ingest/` folders
    in a cache while another image's housekeeping walks it; `Path.rglob` then raised
    FileNotFoundError from os.scandir, and the image that had just been built was reported
    failed."""
    for name in ("a", "b"):
        (tmp_path / name / "blobs").mkdir(parents=True)
    stop = threading.Event()

    def churn() -> None:
        i = 0
        while not stop.is_set():
            d = tmp_path / "b" / "ingest" / str(i)
            d.mkdir(parents=True, exist_ok=True)
            (d / "data").write_bytes(b"y")
            shutil.rmtree(tmp_path / "b" / "ingest", ignore_errors=True)
            i += 1

    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(300):
            (tmp_path / SIZES).unlink(missing_ok=True)   # force the walk over every cache
            assert trim_local_caches(tmp_path, 10**9, keep="a") == []
    finally:
        stop.set()
        t.join()
