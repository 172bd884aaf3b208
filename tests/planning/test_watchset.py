"""What watch watches, from a real repository's snapshot (pure: no engine, no notifications)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from buildorch.planning.baseline import open_config, work_snapshot
from buildorch.planning.watchset import ignored, watch_set

FILES = {
    "services.toml": """
[base.base]
dockerfile = "images/base.Dockerfile"
[services.web]
dockerfile = "services/web/Dockerfile"
[services.api]
dockerfile = "services/api/Dockerfile"
context = "services/api"
""",
    "images/base.Dockerfile": "FROM busybox:1.36\nCOPY shared/ /shared/\n",
    "shared/lib.txt": "lib\n",
    "services/web/Dockerfile": "FROM base\nCOPY services/web/ /app/\n",
    "services/web/app.txt": "web\n",
    "services/web/notes.md": "not sent\n",
    "services/api/Dockerfile": "FROM busybox:1.36\nCOPY main.txt /\n",
    "services/api/main.txt": "api\n",
    "services/api/unread.txt": "api\n",
    ".dockerignore": "**/*.md\n",
    "README.md": "nobody\n",
}


def test_what_the_images_read_and_the_folders_that_hold_it(
        make_repo: Callable[..., Path]) -> None:
    repo = make_repo(FILES)
    cfg = open_config(repo / "services.toml")
    ws = watch_set(cfg, work_snapshot(cfg))
    assert ws.images == {"base", "web", "api"}
    assert {"services.toml", "shared/lib.txt", "services/web/app.txt", "services/web/Dockerfile",
            "services/api/main.txt", "images/base.Dockerfile", ".dockerignore",
            "images/base.Dockerfile.dockerignore", "services/api/.dockerignore"} <= ws.files
    # read by no image: README, the .dockerignore'd notes, api's unread file
    assert not {"README.md", "services/web/notes.md", "services/api/unread.txt"} & ws.files
    assert ws.dirs == {"", "images", "shared", "services/web", "services/api"}
    assert ws.relevant(["README.md", "services/web/app.txt", "services/web/notes.md"]) == \
        ["services/web/app.txt"]
    # a folder removed or moved that holds watched files counts; one that holds none does not
    assert ws.relevant(["services", "docs"]) == ["services"]


def test_selected_images_and_their_ancestry_only(make_repo: Callable[..., Path]) -> None:
    repo = make_repo(FILES)
    cfg = open_config(repo / "services.toml")
    ws = watch_set(cfg, work_snapshot(cfg), ["web"])
    assert ws.images == {"base", "web"}
    assert "shared/lib.txt" in ws.files and "services/web/app.txt" in ws.files
    assert not any(f.startswith("services/api/") for f in ws.files)


def test_git_and_state_folders_never_count() -> None:
    assert ignored(".git/index", ())
    assert ignored(".buildorch/manifest.json", (".buildorch",))
    assert ignored("sub/.buildorch/x", ("sub/.buildorch",))
    assert not ignored(".gitignore", (".buildorch",))
    assert not ignored("src/.git-notes", ())
