"""The local cache folder stays bounded: unreachable blobs go, and the total stays capped."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from buildorch.running.builder import gc_local_cache, trim_local_caches


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "old"]
    assert trim_local_caches(tmp_path, 0, keep="new") == []   # 0: no cap
