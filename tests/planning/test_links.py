"""Which image a FROM names: full normalized references, tags, registry changes (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildorch.config import load
from buildorch.errors import ConfigError
from buildorch.planning.baseline import plan, work_snapshot
from buildorch.planning.links import Known, Resolver, resolve_links
from tests.helpers import git, record_manifest, write_files

DIGEST = "sha256:" + "cd" * 32

VERSIONED = [
    Known("base_1.2", ("acme/base:1.2",), True),
    Known("base_1.3", ("acme/base:1.3", "acme/base:latest"), True),
    Known("python-base", ("ghcr.io/me/python-base:latest",)),
]


@pytest.mark.parametrize("ref,parent,how", [
    ("acme/base:1.2", "base_1.2", "tag"),
    ("docker.io/acme/base:1.2", "base_1.2", "tag"),
    ("index.docker.io/acme/base:1.3", "base_1.3", "tag"),
    ("acme/base", "base_1.3", "tag"),                 # no tag is `latest`, carried by 1.3
    ("acme/base:latest", "base_1.3", "tag"),
    ("acme/base:1.4", None, ""),                      # a tag no image carries: external
    (f"acme/base@{DIGEST}", None, ""),                # digest-pinned: always external
    (f"acme/base:1.2@{DIGEST}", None, ""),
    ("ghcr.io/me/python-base", "python-base", "tag"),
    ("ghcr.io/me/python-base:3.11", "python-base", "repository"),   # one image, one repo
    ("127.0.0.1:5000/other/python-base", "python-base", "name"),    # registry changed
    ("python-base", None, ""),                        # Docker Hub's, never linked by name
    ("someone/python-base", None, ""),
])
def test_resolve(ref: str, parent: str | None, how: str) -> None:
    link = Resolver(VERSIONED).resolve(ref, "child")
    assert (link.parent, link.how) == (parent, how) if link else parent is None


def test_an_image_is_never_its_own_parent() -> None:
    assert Resolver(VERSIONED).resolve("ghcr.io/old/python-base", "python-base") is None


def test_precision_each_version_links_its_own_base() -> None:
    links = resolve_links([*VERSIONED, Known("app_1.2", ("acme/app:1.2",), True),
                           Known("app_1.3", ("acme/app:1.3",), True),
                           Known("tool", ("acme/tool:1",), True)],
                          {"app_1.2": ["acme/base:1.2"], "app_1.3": ["acme/base:1.3"],
                           "tool": ["acme/base:latest", "busybox:1.36"]})
    assert {n: p for n, p in links.parents.items() if p} == {
        "app_1.2": ("base_1.2",), "app_1.3": ("base_1.3",), "tool": ("base_1.3",)}
    assert links.unmatched == ()


def test_a_tag_no_image_carries_is_said() -> None:
    links = resolve_links([*VERSIONED, Known("app", ("acme/app:1",), True)],
                          {"app": ["acme/base:1.4"]})
    assert links.parents["app"] == ()
    assert links.unmatched == (("app", "acme/base:1.4", "1.2, 1.3, latest"),)


def _cfg(tmp_path: Path, toml: str, files: dict[str, str]) -> Path:
    if not (tmp_path / ".git").exists():
        git(tmp_path, "init", "-q")
    write_files(tmp_path, {**files, "services.toml": toml})
    return tmp_path / "services.toml"


def test_two_images_claiming_one_tag_is_one_error_naming_both(tmp_path: Path) -> None:
    path = _cfg(tmp_path, '[base.a]\ndockerfile = "a.Dockerfile"\ntags = ["acme/x:1"]\n'
                '[base.b]\ndockerfile = "b.Dockerfile"\ntags = ["docker.io/acme/x:1"]\n',
                {"a.Dockerfile": "FROM scratch\n", "b.Dockerfile": "FROM scratch\n"})
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.problems == [
        "services.toml: [base.b]: tag 'docker.io/acme/x:1' is also a tag of [base.a]: one "
        "reference names one image; remove it from one of them"]


def test_a_tag_that_is_another_images_default_reference_is_a_clash(tmp_path: Path) -> None:
    path = _cfg(tmp_path, '[project]\nregistry = "ghcr.io/me"\n[base.a]\n'
                'dockerfile = "a.Dockerfile"\n[base.b]\ndockerfile = "b.Dockerfile"\n'
                'tags = ["ghcr.io/me/a"]\n',
                {"a.Dockerfile": "FROM scratch\n", "b.Dockerfile": "FROM scratch\n"})
    with pytest.raises(ConfigError) as info:
        load(path)
    assert "[base.a]" in info.value.problems[0] and "[base.b]" in info.value.problems[0]


@pytest.mark.parametrize("tags,problem", [
    ('["Acme/X:1"]', "not an image reference"),
    (f'["acme/x@{DIGEST}"]', "names a digest"),
    ('"acme/x:1"', "must be a list of image references"),
])
def test_bad_tags(tmp_path: Path, tags: str, problem: str) -> None:
    path = _cfg(tmp_path, f'[base.a]\ndockerfile = "a.Dockerfile"\ntags = {tags}\n',
                {"a.Dockerfile": "FROM scratch\n"})
    with pytest.raises(ConfigError) as info:
        load(path)
    assert problem in info.value.problems[0]


def test_refs_are_the_tags_else_the_project_reference(tmp_path: Path) -> None:
    path = _cfg(tmp_path, '[project]\nregistry = "r.io/me"\ntag = "2"\n'
                '[base.a]\ndockerfile = "a.Dockerfile"\ntags = ["acme/a:1", "acme/a:latest"]\n'
                '[base.b]\ndockerfile = "a.Dockerfile"\n', {"a.Dockerfile": "FROM scratch\n"})
    cfg = load(path)
    assert cfg.refs("a") == ("acme/a:1", "acme/a:latest") and cfg.ref("a") == "acme/a:1"
    assert cfg.refs("b") == ("r.io/me/b:2",)


LABELLED = {
    "a.Dockerfile": "FROM scratch\nCOPY a.txt /a\n", "a.txt": "a\n",
    "b.Dockerfile": "FROM acme/a:1\nCOPY a.txt /b\n",
}


def test_a_label_change_makes_the_image_and_its_children_stale(tmp_path: Path) -> None:
    toml = ('[base.a]\ndockerfile = "a.Dockerfile"\ntags = ["acme/a:1"]\n'
            'labels = { "org.opencontainers.image.version" = "1" }\n'
            '[services.b]\ndockerfile = "b.Dockerfile"\n')
    path = _cfg(tmp_path, toml, LABELLED)
    record_manifest(tmp_path)
    assert plan(load(path)).plan.stale == ()
    path.write_text(toml.replace('= "1" }', '= "2" }'))
    stale = {s.name: s.reasons for s in plan(load(path)).plan.stale}
    assert stale == {"a": ("config changed: labels.org.opencontainers.image.version",),
                     "b": ("parent a rebuilt",)}


def test_images_without_labels_keep_their_digest(tmp_path: Path) -> None:
    toml = '[base.a]\ndockerfile = "a.Dockerfile"\n'
    path = _cfg(tmp_path, toml, LABELLED)
    before = work_snapshot(load(path)).records["a"].digest
    path.write_text(toml + "labels = {}\n")
    assert work_snapshot(load(path)).records["a"].digest == before
    path.write_text(toml + 'labels = { x = "1" }\n')
    assert work_snapshot(load(path)).records["a"].digest != before


def test_a_parents_onbuild_and_env_follow_the_from_link(tmp_path: Path) -> None:
    """Issue 21's reads through configured parents use the same links as the graph: a parent
    named by one of its `tags` (two versions of one repository) or, after a registry change,
    by name. Each child reads what its own parent's ONBUILD COPY and ENV say."""
    git(tmp_path, "init", "-q")
    write_files(tmp_path, {
        "b12.Dockerfile": "FROM busybox:1.36\nENV SRC=old\nONBUILD COPY a.yml /a.yml\n",
        "b13.Dockerfile": "FROM busybox:1.36\nENV SRC=new\nONBUILD COPY b.yml /b.yml\n",
        "py.Dockerfile": "FROM busybox:1.36\nONBUILD COPY c.yml /c.yml\n",
        "old/Dockerfile": "FROM acme/base:1.2\nCOPY ${SRC}/ /src/\n",
        "new/Dockerfile": "FROM acme/base\nCOPY ${SRC}/ /src/\n",
        "moved/Dockerfile": "FROM ghcr.io/gone/py:latest\n",
        **{f"{c}/{f}": "x\n" for c in ("old", "new", "moved")
           for f in ("a.yml", "b.yml", "c.yml", "old/f", "new/f")},
        "services.toml": '[project]\nregistry = "127.0.0.1:5000/me"\n'
                         '[base.b12]\ndockerfile = "b12.Dockerfile"\ntags = ["acme/base:1.2"]\n'
                         '[base.b13]\ndockerfile = "b13.Dockerfile"\n'
                         'tags = ["acme/base:1.3", "acme/base:latest"]\n'
                         '[base.py]\ndockerfile = "py.Dockerfile"\n'
                         '[services.old]\ncontext = "old"\n[services.new]\ncontext = "new"\n'
                         '[services.moved]\ncontext = "moved"\n'})
    snap = work_snapshot(load(tmp_path / "services.toml"))
    files = {n: sorted(snap.inputs[n].files) for n in ("old", "new", "moved")}
    assert files == {"old": ["old/a.yml", "old/old/f"], "new": ["new/b.yml", "new/new/f"],
                     "moved": ["moved/c.yml"]}
    assert snap.inputs["old"].origins == {"old/a.yml": "ONBUILD COPY in b12's Dockerfile, "
                                                       "line 3"}
    assert snap.inputs["moved"].notes == ()
