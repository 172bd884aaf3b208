"""What a test session removes at its end (`helpers.session_images`, `remove_images`): every
image it tagged, and the ones it pulled by digest (`repo:<none>`: no tag to name them by),
never another's."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.helpers import PREFIX, docker, remove_images, session_images

pytestmark = pytest.mark.usefixtures("engine")   # and its registry (scripts/engine.sh)


def test_a_session_finds_its_tags_and_its_images_pulled_by_digest(tmp_path: Path) -> None:
    nonce = uuid.uuid4().hex[:10]
    mine, pulled = f"{PREFIX}cleanup-{nonce}/img:1", f"{PREFIX}cleanup-{nonce}/pulled:1"
    other = f"bo-other-session-{nonce}/img:1"
    digest = ""
    try:
        for tags, text in (((mine, other), "mine"), ((pulled,), "pulled")):
            (tmp_path / "Dockerfile").write_text(f"FROM busybox:1.36\nRUN echo {text} {nonce}\n")
            docker("buildx", "build", "-q", "--load", *(a for t in tags for a in ("-t", t)),
                   str(tmp_path))
        docker("push", "-q", pulled)
        digest = docker("inspect", "--format", "{{index .RepoDigests 0}}", pulled).strip()
        docker("rmi", pulled)
        docker("pull", "-q", digest)   # no tag now: listed as `…/pulled:<none>`
        image_id = docker("inspect", "--format", "{{.Id}}", digest).strip()
        found = session_images()
        assert mine in found and other not in found
        assert not [r for r in found if r.endswith(":<none>")]
        assert any(image_id.removeprefix("sha256:").startswith(r) for r in found), found
        remove_images([r for r in found if f"cleanup-{nonce}" in r
                       or image_id.removeprefix("sha256:").startswith(r)])
        left = docker("images", "--format", "{{.Repository}}:{{.Tag}}")
        assert f"cleanup-{nonce}" not in left and other in left
    finally:
        docker("rmi", "-f", mine, other, pulled, *([digest] if digest else []), check=False)
