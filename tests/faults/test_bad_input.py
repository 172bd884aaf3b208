"""Every bad input: one line on stderr (what, where, what to do), exit 1, never a traceback,
nothing lost. A table of malformed repositories, each run through the real CLI; none of them
needs an engine (the commands stop before they would talk to one)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import git

TEMPLATE = """[project]
registry = "127.0.0.1:5000/bad-input"
{project}
[cache]
{cache}
[tiers.t]
{tier}
[base.b]
tier = "t"
dockerfile = "b.Dockerfile"
[services.s]
tier = "t"
dockerfile = "s/Dockerfile"
depends_on = ["b"]
{image}
{extra}
"""
FILES: dict[str, str | bytes] = {
    "b.Dockerfile": "FROM busybox:1.36\nRUN true\n",
    "s/Dockerfile": "FROM 127.0.0.1:5000/bad-input/b:latest\nCOPY s/app.txt /app\n",
    "s/app.txt": "app\n",
}


def toml(project: str = "", cache: str = "", tier: str = "", image: str = "",
         extra: str = "") -> dict[str, str | bytes]:
    return {"services.toml": TEMPLATE.format(project=project, cache=cache, tier=tier,
                                             image=image, extra=extra)}


def extra_image(body: str) -> dict[str, str | bytes]:
    """A third image, [services.z], made only of `body`."""
    return toml(extra=f"[services.z]\n{body}")


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str | bytes]
    argv: tuple[str, ...]
    expect: str                      # in the one stderr line
    rc: int = 1
    setup: Callable[[Path], None] | None = None
    wrap: tuple[str, ...] = ()       # e.g. unshare, to make .buildorch read-only
    lines: int = 1                   # stderr lines
    unchanged: tuple[str, ...] = field(default=())   # files that must be byte-identical after


V = ("validate",)
P = ("plan",)


def _symlink(rel: str, target: str) -> Callable[[Path], None]:
    def make(repo: Path) -> None:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, repo / rel)
    return make


def _dotgit(kind: str) -> Callable[[Path], None]:
    def make(repo: Path) -> None:
        if kind == "dangling":
            (repo / ".git").write_text("gitdir: /nonexistent/worktrees/x\n")
        else:
            (repo / ".git").mkdir()
            (repo / ".git" / "HEAD").write_text("garbage\n")
    return make


def _git_repo(repo: Path) -> None:
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "x")


def _state_file(repo: Path) -> None:
    (repo / ".buildorch").write_text("not a folder\n")


def _binary_history(repo: Path) -> None:
    (repo / ".buildorch").mkdir()
    (repo / ".buildorch" / "history.jsonl").write_bytes(
        b'{"image":"b","result":"built","duration_s":1.0}\n\xff\xfe\x00\x01garbage\n')


def _ro_state(repo: Path) -> None:
    (repo / ".buildorch").mkdir()


def _ro(repo_marker: str) -> tuple[str, ...]:
    return ("unshare", "--mount", "sh", "-c",
            'mount --bind -o ro "$PWD/.buildorch" "$PWD/.buildorch" && exec "$@"', "sh")


WRONG_TYPES = [
    # every key of services.toml, given the wrong type
    ("project-registry-int", toml(project="registry = 5".replace("registry", "tag")), "tag 5"),
    ("project-jobs-str", toml(project='jobs = "4"'), "jobs = '4'"),
    ("project-jobs-zero", toml(project="jobs = 0"), "jobs = 0"),
    ("project-platform-int", toml(project="platform = 5"), "platform = 5"),
    ("project-context-int", toml(project="context = 5"), "context = 5"),
    ("cache-from-str", toml(cache='from = "local"'), "from = 'local'"),
    ("cache-to-int", toml(cache="to = 5"), "to = 5"),
    ("cache-from-unknown", toml(cache='from = ["s3"]'), "unknown cache source 's3'"),
    ("cache-max-list", toml(cache="local_max_size = []"), "local_max_size"),
    ("cache-max-bad", toml(cache='local_max_size = "lots"'), "'lots' is not a size"),
    ("tier-timeout-int", toml(tier="timeout = 5"), "5 has no unit"),
    ("tier-timeout-float", toml(tier="timeout = 1.5"), "1.5 has no unit"),
    ("tier-timeout-bad", toml(tier='timeout = "soon"'), "'soon' is not a duration"),
    ("tier-step-timeout-bool", toml(tier="step_timeout = true"), "step_timeout"),
    ("tier-max-parallel-str", toml(tier='max_parallel = "2"'), "max_parallel = '2'"),
    ("tier-max-parallel-zero", toml(tier="max_parallel = 0"), "max_parallel = 0"),
    ("tier-min-free-list", toml(tier="min_free = [1]"), "min_free"),
    ("tier-cleanup-int", toml(tier="cleanup = 5"), "cleanup = 5 is not a policy"),
    ("tier-cleanup-unknown", toml(tier='cleanup = "all"'), "cleanup = 'all' is not a policy"),
    ("tier-builder-int", toml(tier="builder = 5"), "builder = 5"),
    ("image-tier-int", extra_image('tier = 5\ndockerfile = "b.Dockerfile"'), "tier must be a"),
    ("image-dockerfile-int", extra_image('tier = "t"\ndockerfile = 5'), "dockerfile = 5"),
    ("image-context-list", extra_image('tier = "t"\ncontext = ["."]'), "context = ['.']"),
    ("image-target-int", toml(image="target = 5"), "target = 5"),
    ("image-platform-bool", toml(image="platform = false"), "platform = False"),
    ("image-args-str", toml(image='args = "A=1"'), "args = 'A=1'"),
    ("image-args-value-list", toml(image="args = { A = [1] }"), "args.A = [1]"),
    ("image-args-bad-name", toml(image='args = { "1A" = "x" }'), "'1A' is not a valid"),
    ("image-depends-on-str", toml(extra='[services.z]\ntier = "t"\ndockerfile = "b.Dockerfile"'
                                        '\ndepends_on = "b"'), "depends_on = 'b'"),
    ("image-inputs-str", toml(image='inputs = "x"'), "inputs = 'x'"),
    ("image-ignore-int", toml(image="ignore = 5"), "ignore = 5"),
    ("top-project-int", {"services.toml": "project = 5\n" + TEMPLATE.split("\n", 3)[3].format(
        project="", cache="", tier="", image="", extra="")}, "'project' must be a table"),
    ("top-tiers-int", {"services.toml": 'tiers = 5\n[base.b]\ntier = "t"\n'
                                        'dockerfile = "b.Dockerfile"\n'}, "'tiers' must be"),
    ("tier-table-int", toml(extra="[tiers]\nu = 5"), "'u' must be a table"),
    ("image-table-int", toml(extra="[services]\nz = 5"), "'z' must be a table"),
    ("base-int", {"services.toml": "base = 5\n"}, "'base' must be a table"),
]

CASES: list[Case] = [
    *(Case(i, f, V, e) for i, f, e in WRONG_TYPES),
    # other values that are wrong
    Case("registry-bad", toml(project='registry = "Bad Registry"'.replace("registry", "tag")),
         V, "is not a valid image tag"),
    Case("unknown-top-key", toml(extra="[servces.x]\ntier = \"t\""), V, "did you mean 'services'"),
    Case("unknown-project-key", toml(project="jobz = 2"), V, "did you mean 'jobs'"),
    Case("unknown-cache-key", toml(cache="form = []"), V, "did you mean 'from'"),
    Case("unknown-tier-key", toml(tier='timout = "5m"'), V, "did you mean 'timeout'"),
    Case("unknown-image-key", toml(image='dockerfil = "x"'), V, "did you mean 'dockerfile'"),
    Case("toml-syntax", {"services.toml": "[project\n"}, V, "TOML syntax error"),
    Case("toml-syntax-plan", {"services.toml": "x = = 1\n"}, P, "TOML syntax error"),
    Case("not-utf8", {"services.toml": b"[project]\n# caf\xe9\n"}, V, "not valid UTF-8"),
    Case("not-utf8-plan", {"services.toml": b"[project]\ntag = \"\xff\"\n"}, P,
         "not valid UTF-8", unchanged=("services.toml",)),
    Case("no-images", {"services.toml": "[project]\n"}, V, "no images"),
    Case("depends-on-unknown", extra_image('tier = "t"\ndockerfile = "b.Dockerfile"\n'
                                           'depends_on = ["nothing"]'), V,
         "remove it, or add a [base.nothing]"),
    Case("depends-on-typo", extra_image('tier = "t"\ndockerfile = "b.Dockerfile"\n'
                                        'depends_on = ["bb"]'), V, "did you mean 'b'"),
    Case("depends-on-self", extra_image('tier = "t"\ndockerfile = "b.Dockerfile"\n'
                                        'depends_on = ["z"]'), V, "depends_on names the image"),
    Case("unknown-tier", extra_image('tier = "tt"\ndockerfile = "b.Dockerfile"'), V,
         "did you mean 't'"),
    Case("image-inputs-ints", toml(image="inputs = [1, 2]"), V, "inputs = [1, 2] must be a list"),
    Case("dockerfile-missing", extra_image('tier = "t"\ndockerfile = "nope"'), V,
         "dockerfile 'nope' does not exist"),
    Case("context-not-dir", extra_image('tier = "t"\ncontext = "b.Dockerfile"'), V,
         "is not a directory"),
    Case("context-outside", extra_image('tier = "t"\ncontext = ".."'), V,
         "outside the repository"),
    Case("dockerfile-outside", extra_image('tier = "t"\ndockerfile = "../x"'), V,
         "outside the repository"),
    Case("image-name-upper", toml(extra='[services.Z]\ntier = "t"\ndockerfile = "b.Dockerfile"'),
         V, "not a valid image name"),
    Case("image-twice", toml(extra='[base.s]\ntier = "t"\ndockerfile = "b.Dockerfile"'), V,
         "declared twice"),
    Case("dockerfile-symlink-out", extra_image('tier = "t"\ndockerfile = "z.Dockerfile"'), V,
         "leads outside the repository", setup=_symlink("z.Dockerfile", "/etc/hostname")),
    Case("context-symlink-out", extra_image('tier = "t"\ncontext = "ctx"'), V,
         "leads outside the repository", setup=_symlink("ctx", "/etc")),
    Case("input-symlink-out", {**toml(), "s/Dockerfile":
                               "FROM busybox:1.36\nCOPY s/ /app/\n"}, P,
         "is a symlink leading outside the repository",
         setup=_symlink("s/hostname", "/etc/hostname")),
    Case("inputs-symlink-out", toml(image='inputs = ["extra/*"]'), P,
         "is a symlink leading outside the repository",
         setup=_symlink("extra/passwd", "/etc/passwd")),
    Case("dockerignore-symlink-out", toml(), P, ".dockerignore is a symlink leading outside",
         setup=_symlink(".dockerignore", "/etc/hostname")),
    Case("dockerfile-5mb", {**toml(), "b.Dockerfile": "FROM busybox:1.36\n"
                            + "# " + "x" * (5 * 2**20) + "\n"}, V,
         "b.Dockerfile ([base.b]) is 5.0 MiB"),
    Case("dockerfile-no-from", {**toml(), "b.Dockerfile": "RUN true\n"}, V, "b.Dockerfile"),
    Case("dockerfile-bad-instruction", {**toml(), "b.Dockerfile": "FROM busybox:1.36\nFOO x\n"},
         V, "b.Dockerfile"),
    Case("cycle", {**toml(image="", extra=""), "b.Dockerfile":
                   "FROM 127.0.0.1:5000/bad-input/s:latest\n"}, V, "cycle"),
    Case("config-is-dir", toml(), ("--config", ".", "plan"), "is a folder",
         setup=lambda r: None),
    Case("config-missing", toml(), ("--config", "nope.toml", "plan"), "not found"),
    Case("unknown-image-plan", toml(), ("plan", "nosuch"), "name one of the images"),
    Case("unknown-image-typo", toml(), ("plan", "ss"), "did you mean 's'"),
    Case("unknown-image-inputs", toml(), ("inputs", "nosuch"), "name one of its images"),
    Case("since-unknown-ref", toml(), ("plan", "--since", "nosuch"), "--since nosuch",
         setup=_git_repo),
    Case("dotgit-dangling", toml(), P, "is not a repository git can read",
         setup=_dotgit("dangling")),
    Case("dotgit-broken", toml(), P, "is not a repository git can read", setup=_dotgit("broken")),
    Case("state-is-file", toml(), ("build",), "is a file, but buildorch keeps",
         setup=_state_file, unchanged=(".buildorch",)),
    Case("state-read-only", toml(), ("build",), "is not writable", setup=_ro_state,
         wrap=_ro("")),
    Case("history-binary", toml(), ("stats",), "", rc=0, setup=_binary_history, lines=0,
         unchanged=(".buildorch/history.jsonl",)),
    Case("manifest-garbage", {**toml(), ".buildorch/manifest.json": b"\xff\x00{"}, P,
         "", rc=0, lines=0, unchanged=(".buildorch/manifest.json",)),
    Case("history-is-dir", toml(), ("stats",), "", rc=0, lines=0,
         setup=lambda r: (r / ".buildorch" / "history.jsonl").mkdir(parents=True)),
]


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line(case: Case, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    for rel, data in {**FILES, **case.files}.items():
        p = repo / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            p.write_bytes(data)
        else:
            p.write_text(data)
    if case.setup:
        case.setup(repo)
    before = {u: _snapshot(repo / u) for u in case.unchanged}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "DOCKER_")) or k == "DOCKER_CONFIG"}
    # No engine here: a command that would reach one must have stopped before.
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"
    p = subprocess.run([*case.wrap, sys.executable, "-m", "buildorch", *case.argv], cwd=repo,
                       env=env, capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    assert "Traceback" not in out, out
    err = [ln for ln in p.stderr.splitlines() if not ln.startswith("note: ")]
    assert p.returncode == case.rc, out
    assert len(err) == case.lines, out
    if case.lines:
        assert case.expect in err[0], err[0]
        # what, where and what to do: a path or table, then advice after ':' or ';'
        assert len(err[0]) > 40 and (";" in err[0] or ": " in err[0]), err[0]
    for u, data in before.items():
        assert _snapshot(repo / u) == data, f"{u} changed"


def _snapshot(p: Path) -> bytes | str:
    return p.read_bytes() if p.is_file() else f"dir:{sorted(os.listdir(p))}" if p.is_dir() \
        else "missing"
