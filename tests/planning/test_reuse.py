"""The input cache: every change that could change what an image reads recomputes it, and
the result always equals a plan made without the cache. A broken cache is a miss, never an
error."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from buildorch import config as config_mod
from buildorch.config import Config
from buildorch.edges import git as git_edge
from buildorch.edges.git import WorkTree
from buildorch.edges.inputcache import FOLDER, INDEX, PERMS
from buildorch.planning import baseline
from buildorch.planning.digest import Snapshot, snapshot
from buildorch.planning.reuse import Reuse
from tests.helpers import git, settle_index

REG = "reg.example/acme"
TOML = f"""
[project]
registry = "{REG}"

[tiers.base]
[tiers.services]

[base.base]
tier = "base"
dockerfile = "images/base.Dockerfile"

[services.stt]
tier = "services"
dockerfile = "services/stt/Dockerfile"
args = {{ MODE = "fast" }}

[services.web]
tier = "services"
dockerfile = "services/web/Dockerfile"
"""
FILES = {
    "services.toml": TOML,
    "images/base.Dockerfile": "FROM busybox:1.36\nCOPY requirements/base.txt /req.txt\n",
    "services/stt/Dockerfile": f"FROM {REG}/base:latest\nARG MODE\nRUN echo $MODE\n"
                               "COPY services/stt/ /app/\nCOPY shared/util.py /app/util.py\n",
    "services/web/Dockerfile": f"FROM {REG}/base:latest\nCOPY services/web/*.py /app/\n",
    "services/stt/app.py": "print('stt')\n",
    "services/web/main.py": "print('web')\n",
    "shared/util.py": "X = 1\n",
    "requirements/base.txt": "a==1\n",
    ".dockerignore": "**/*.md\n",
    ".gitignore": ".buildorch/\n*.log\n",
}


@pytest.fixture()
def repo(make_repo: Callable[..., Path]) -> Path:
    return make_repo(FILES)


def cfg_of(repo: Path) -> Config:
    return config_mod.load(repo / "services.toml")


def fresh(repo: Path) -> Snapshot:
    cfg = cfg_of(repo)
    return snapshot(cfg, WorkTree.scan(cfg.root, cfg.hidden))


def cached(repo: Path) -> tuple[Snapshot, Reuse]:
    """As a plan reads: through the input cache and the kept permission scan."""
    cfg = cfg_of(repo)
    tree = baseline.scan(cfg)
    reuse = Reuse.open(cfg, tree)
    return snapshot(cfg, tree, reuse), reuse


def assert_same(a: Snapshot, b: Snapshot) -> None:
    assert set(a.records) == set(b.records)
    for n in a.records:
        ra, rb = a.records[n], b.records[n]
        assert ra.digest == rb.digest, n
        assert dict(ra.files or {}) == dict(rb.files or {}), n
        assert (ra.instructions, dict(ra.args), ra.parents) == \
            (rb.instructions, dict(rb.args), rb.parents), n
        assert a.inputs[n].notes == b.inputs[n].notes, n
        assert a.inputs[n].external_images == b.inputs[n].external_images, n


def recomputed(reuse: Reuse) -> set[str]:
    return set(reuse._ran)


def test_unchanged_tree_reuses_every_image(repo: Path) -> None:
    first, r1 = cached(repo)
    assert recomputed(r1) == {"base", "stt", "web"}
    again, r2 = cached(repo)
    assert recomputed(r2) == set() and r2.hits == 3
    assert_same(again, first)
    assert_same(again, fresh(repo))


def _edit_dockerignore(repo: Path) -> None:
    (repo / ".dockerignore").write_text("**/*.md\nservices/web/main.py\n")


def _own_dockerignore(repo: Path) -> None:
    # <Dockerfile>.dockerignore wins over the context's: its mere existence changes the set
    (repo / "services/web/Dockerfile.dockerignore").write_text("services/web/main.py\n")


def _edit_dockerfile(repo: Path) -> None:
    (repo / "services/web/Dockerfile").write_text(
        f"FROM {REG}/base:latest\nCOPY services/web/*.py /srv/\n")


def _edit_args(repo: Path) -> None:
    (repo / "services.toml").write_text(TOML.replace('MODE = "fast"', 'MODE = "slow"'))


def _untracked(repo: Path) -> None:
    (repo / "services/web/extra.py").write_text("Y = 2\n")


def _ignored(repo: Path) -> None:
    (repo / "services/stt/debug.log").write_text("sent by Docker all the same\n")


def _chmod(repo: Path) -> None:
    os.chmod(repo / "shared/util.py", 0o664)


def _symlink(repo: Path) -> None:
    (repo / "services/web/main.py").unlink()
    (repo / "services/web/main.py").symlink_to("../../shared/util.py")


def _staged(repo: Path) -> None:
    (repo / "requirements/base.txt").write_text("a==2\n")
    git(repo, "add", "requirements/base.txt")


def _committed(repo: Path) -> None:
    (repo / "requirements/base.txt").write_text("a==3\n")
    git(repo, "commit", "-qam", "bump")


def _committed_mode(repo: Path) -> None:
    # the blob stays the same: only its folder's tree knows the mode
    os.chmod(repo / "requirements/base.txt", 0o755)
    git(repo, "commit", "-qam", "exec")


def _deleted(repo: Path) -> None:
    (repo / "services/stt/app.py").unlink()


@pytest.mark.parametrize(("change", "stale", "digest_moves"), [
    (_edit_dockerignore, {"base", "stt", "web"}, {"web"}),
    (_own_dockerignore, {"web"}, {"web"}),
    (_edit_dockerfile, {"web"}, {"web"}),
    (_edit_args, {"stt"}, {"stt"}),
    (_untracked, {"web"}, {"web"}),
    (_ignored, {"stt"}, {"stt"}),
    (_chmod, {"stt"}, {"stt"}),
    (_symlink, {"web"}, {"web"}),
    (_staged, {"base"}, {"base", "stt", "web"}),
    (_committed, {"base"}, {"base", "stt", "web"}),
    (_committed_mode, {"base"}, {"base", "stt", "web"}),
    (_deleted, {"stt"}, {"stt"}),
], ids=lambda x: getattr(x, "__name__", None))
def test_each_change_recomputes_what_it_touches(
        repo: Path, change: Callable[[Path], None], stale: set[str],
        digest_moves: set[str]) -> None:
    before, _ = cached(repo)
    change(repo)
    after, reuse = cached(repo)
    # what the change can reach is read again; the rest is reused
    assert recomputed(reuse) == stale
    assert_same(after, fresh(repo))
    moved = {n for n in after.records if after.records[n].digest != before.records[n].digest}
    assert moved == digest_moves
    # and once more: the stored result of the change is the same again
    third, _ = cached(repo)
    assert_same(third, after)


def test_a_chmod_after_the_permission_scan_was_kept(repo: Path) -> None:
    cached(repo)
    settle_index(repo)
    cached(repo)   # keeps its permission scan: the index was written in an earlier second
    assert (repo / ".buildorch" / FOLDER / PERMS).exists()
    _chmod(repo)
    after, reuse = cached(repo)
    assert recomputed(reuse) == {"stt"}
    assert "perm664" in after.records["stt"].files["shared/util.py"]   # type: ignore[index]
    assert_same(after, fresh(repo))


def test_a_dockerfile_read_through_a_symlink_is_never_reused(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the link itself does not change: only the refusal to store it can make this recompute
    monkeypatch.setattr(git_edge, "RACY_NS", 0)
    (repo / "elsewhere").mkdir()
    (repo / "elsewhere/web.Dockerfile").write_text((repo / "services/web/Dockerfile").read_text())
    (repo / "services/web/Dockerfile").unlink()
    (repo / "services/web/Dockerfile").symlink_to("../../elsewhere/web.Dockerfile")
    cached(repo)
    (repo / "elsewhere/web.Dockerfile").write_text(
        f"FROM {REG}/base:latest\nCOPY services/web/*.py /other/\n")
    after, reuse = cached(repo)
    assert "web" in recomputed(reuse)
    assert_same(after, fresh(repo))


def test_parent_digest_change_is_not_served_from_the_memo(repo: Path) -> None:
    cached(repo)
    _committed(repo)
    after, reuse = cached(repo)
    assert "stt" not in recomputed(reuse)   # its inputs are reused, its digest is not
    assert_same(after, fresh(repo))


def _index(repo: Path) -> Path:
    return repo / ".buildorch" / FOLDER / INDEX


def _segments(repo: Path) -> list[Path]:
    return sorted((repo / ".buildorch" / FOLDER).glob("files-*"))


@pytest.mark.parametrize("damage", [
    lambda repo: _index(repo).write_bytes(b"\x00garbage{"),
    lambda repo: _index(repo).write_text("[1, 2]"),
    lambda repo: _index(repo).write_text(_index(repo).read_text()[:100]),
    lambda repo: _index(repo).write_text(json.dumps({**json.loads(_index(repo).read_text()),
        "images": {"web": {"spec": json.loads(_index(repo).read_text())["images"]["web"]["spec"],
                           "roots": 5, "state": None}, "stt": [], "base": {"spec": {}}}})),
    lambda repo: _index(repo).write_text(json.dumps({**json.loads(_index(repo).read_text()),
                                                     "manifest": {"stamp": 1, "records": 2}})),
    lambda repo: [p.write_bytes(p.read_bytes()[:10]) for p in _segments(repo)],
    lambda repo: [p.write_bytes(p.read_bytes().replace(b"100644", b"100755"))
                  for p in _segments(repo)],
    lambda repo: [p.unlink() for p in _segments(repo)],
], ids=["binary", "not-an-object", "truncated", "wrong-types", "bad-manifest-copy",
        "segment-truncated", "segment-altered", "segment-gone"])
def test_a_damaged_cache_is_ignored(repo: Path, damage: Callable[[Path], object]) -> None:
    cached(repo)
    damage(repo)
    after, _ = cached(repo)   # never a traceback
    assert_same(after, fresh(repo))
    again, _ = cached(repo)
    assert_same(again, fresh(repo))


def test_manifest_copy_follows_the_manifest(repo: Path) -> None:
    from buildorch.edges import state

    cfg = cfg_of(repo)
    snap = fresh(repo)
    state.record_many(cfg.state_dir, {n: (r, None) for n, r in snap.records.items()})
    for _ in range(2):   # the second time from the copy
        tree = WorkTree.scan(cfg.root, cfg.hidden)
        reuse = Reuse.open(cfg, tree)
        m = reuse.manifest()
        snapshot(cfg, tree, reuse)
        full = state.load_manifest(cfg.state_dir)
        assert {n: (r.digest, dict(r.files or {}), dict(r.parents), dict(r.labels))
                for n, r in m.records.items()} \
            == {n: (r.digest, dict(r.files or {}), dict(r.parents), dict(r.labels))
                for n, r in full.records.items()}
    changed = dict(snap.records)
    changed["web"] = changed["stt"]
    state.record_many(cfg.state_dir, {"web": (changed["web"], None)})
    tree = WorkTree.scan(cfg.root, cfg.hidden)
    m = Reuse.open(cfg, tree).manifest()
    assert m.records["web"].digest == snap.records["stt"].digest
    assert dict(m.records["web"].files or {}) == dict(snap.records["stt"].files or {})


def test_head_ids_agree_with_git(repo: Path) -> None:
    os.chmod(repo / "shared/util.py", 0o755)
    git(repo, "commit", "-qam", "exec")
    tree = WorkTree.scan(repo)
    paths = ["", "services", "services/stt", "services/stt/app.py", "shared/util.py",
             "missing", "services/stt/app.py/below", "services/nope/x"]
    got = dict(zip(paths, tree.head_ids(paths), strict=True))
    assert got["missing"] == got["services/stt/app.py/below"] == got["services/nope/x"] \
        == "missing"
    for p in paths[:5]:
        oid = git(repo, "rev-parse", f"HEAD:{p}").strip()
        kind = git(repo, "cat-file", "-t", oid).strip()
        assert got[p].split(" ")[:2] == [kind, oid], p
    assert got["shared/util.py"].endswith(" 100755")
    assert got["services/stt/app.py"].endswith(" 100644")


# --- reads beyond an image's own Dockerfile (issue 21): a configured parent's ONBUILD
# triggers and ENV, named folder contexts, and which image a FROM names (tags) -------------

TOML21 = """
[project]
registry = "reg.example/acme"

[tiers.base]
[tiers.services]

[base.runtime]
tier = "base"
dockerfile = "images/runtime.Dockerfile"
tags = ["acme/runtime:latest"]

[base.runtime2]
tier = "base"
dockerfile = "images/runtime2.Dockerfile"
tags = ["acme/runtime:2"]

[services.app]
tier = "services"
dockerfile = "services/app/Dockerfile"
contexts = { shared = "shared" }
"""
FILES21 = {
    "services.toml": TOML21,
    "images/runtime.Dockerfile": "FROM busybox:1.36\nENV SRC=services/app/src\n"
                                 "ONBUILD COPY services/app/conf /conf\n",
    "images/runtime2.Dockerfile": "FROM busybox:1.36\nENV SRC=services/app/other\n",
    "services/app/Dockerfile": "FROM acme/runtime:latest\nCOPY ${SRC} /src\n"
                               "COPY --from=shared lib/ /lib/\n",
    "services/app/src/a.py": "A = 1\n",
    "services/app/conf/c.ini": "[c]\n",
    "services/app/other/o.py": "O = 1\n",
    "shared/lib/lib.py": "L = 1\n",
    "shared/lib/notes.md": "notes\n",
    "shared/.dockerignore": "**/*.md\n",
    ".gitignore": ".buildorch/\n",
}


@pytest.fixture()
def repo21(make_repo: Callable[..., Path]) -> Path:
    return make_repo(FILES21)


def _onbuild_line(repo: Path) -> None:
    (repo / "images/runtime.Dockerfile").write_text(
        "FROM busybox:1.36\nENV SRC=services/app/src\nONBUILD COPY services/app/other /o\n")


def _parent_env(repo: Path) -> None:
    (repo / "images/runtime.Dockerfile").write_text(
        "FROM busybox:1.36\nENV SRC=services/app/other\nONBUILD COPY services/app/conf /conf\n")


def _named_context_file(repo: Path) -> None:
    (repo / "shared/lib/lib.py").write_text("L = 2\n")


def _named_context_dockerignore(repo: Path) -> None:
    (repo / "shared/.dockerignore").write_text("**/*.md\nlib/lib.py\n")


def _named_context_new_file(repo: Path) -> None:
    (repo / "shared/lib/more.py").write_text("M = 1\n")


def _tag_moves(repo: Path) -> None:
    # `acme/runtime:latest` now names runtime2: app's FROM reads another image's ENV
    (repo / "services.toml").write_text(TOML21.replace(
        'tags = ["acme/runtime:latest"]', 'tags = ["acme/runtime:1"]').replace(
        'tags = ["acme/runtime:2"]', 'tags = ["acme/runtime:2", "acme/runtime:latest"]'))


@pytest.mark.parametrize(("change", "stale"), [
    (_onbuild_line, {"runtime", "app"}),
    (_parent_env, {"runtime", "app"}),
    (_named_context_file, {"app"}),
    (_named_context_dockerignore, {"app"}),
    (_named_context_new_file, {"app"}),
    (_tag_moves, {"runtime", "runtime2", "app"}),
], ids=lambda x: getattr(x, "__name__", None))
def test_reads_beyond_the_own_dockerfile_recompute(
        repo21: Path, change: Callable[[Path], None], stale: set[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(git_edge, "RACY_NS", 0)   # files just written may match again
    before, r1 = cached(repo21)
    assert recomputed(r1) == {"runtime", "runtime2", "app"}
    # the reads the change moves are really there, so reusing them would be wrong
    assert {"services/app/src/a.py", "services/app/conf/c.ini", "shared/lib/lib.py"} <= \
        set(before.records["app"].files or {})
    change(repo21)
    after, reuse = cached(repo21)
    assert recomputed(reuse) == stale
    assert_same(after, fresh(repo21))
    assert dict(after.records["app"].files or {}) != dict(before.records["app"].files or {})
    assert after.records["app"].digest != before.records["app"].digest
    assert after.inputs["app"].origins == fresh(repo21).inputs["app"].origins
    third, r3 = cached(repo21)
    assert recomputed(r3) == set()
    assert_same(third, after)


def test_reads_beyond_the_own_dockerfile_are_reused_unchanged(
        repo21: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(git_edge, "RACY_NS", 0)
    first, _ = cached(repo21)
    # files no one reads: in the parent's context, and in the named context beside what
    # app's COPY --from=shared names
    (repo21 / "images/unrelated.txt").write_text("x\n")
    (repo21 / "shared/unused.txt").write_text("y\n")
    again, reuse = cached(repo21)
    assert recomputed(reuse) == set()
    assert_same(again, first)
    assert_same(again, fresh(repo21))
    assert again.inputs["app"].origins == first.inputs["app"].origins
    assert again.inputs["app"].origins   # the trigger's and the named context's reads
