"""Reads beyond an image's own Dockerfile, judged by BuildKit: a configured parent's ONBUILD
triggers, the ENV its image carries, and named build contexts.

Each case is a small stack of configured images built with `docker buildx build`, parents
first, each tagged as services.toml names it. From a build BuildKit has cached, one edit; then
the planner's answer for one image is compared with a real rebuild of the stack (does that
image's build miss the cache?). Every case has an edit to a file the build reads (stale) and
one to a file it does not (fresh).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

import buildorch
from buildorch.config import load
from buildorch.running.buildx import run_build
from buildorch.running.spec import BuildSpec, named_context
from tests.helpers import PREFIX, record_manifest, write_files

pytestmark = pytest.mark.usefixtures("engine")

BASE = "FROM busybox:1.36\nRUN echo base > /base\n"


def _toml(images: Mapping[str, str]) -> str:
    """`images`: name -> extra keys; each image's context is its own folder."""
    out = '[project]\nregistry = "REG"\n[tiers.t]\n'
    for name, extra in images.items():
        out += f'[base.{name}]\ntier = "t"\ncontext = "{name}"\n{extra}\n'
    return out


# (case, files, image judged, edit to a file it reads, edit to a file it does not read)
CASES: list[tuple[str, dict[str, str], str, str, str]] = [
    ("ONBUILD COPY", {
        "base/Dockerfile": BASE + "ONBUILD COPY environment.yml /env.yml\n",
        "child/Dockerfile": "FROM REG/base:latest\nRUN echo hi > /hi\n",
        "child/environment.yml": "a: 1\n", "child/other.txt": "o\n",
    }, "child", "child/environment.yml", "child/other.txt"),
    ("ONBUILD ADD", {
        "base/Dockerfile": BASE + "ONBUILD ADD conf/ /conf/\n",
        "child/Dockerfile": "FROM REG/base:latest\nRUN echo hi > /hi\n",
        "child/conf/a.conf": "a\n", "child/notes.txt": "n\n",
    }, "child", "child/conf/a.conf", "child/notes.txt"),
    ("ONBUILD RUN with a bind mount", {
        "base/Dockerfile": BASE + "ONBUILD RUN --mount=type=bind,source=setup.sh,"
                                  "target=/s.sh sh /s.sh > /out\n",
        "child/Dockerfile": "FROM REG/base:latest\nRUN echo hi > /hi\n",
        "child/setup.sh": "echo setup\n", "child/other.sh": "echo other\n",
    }, "child", "child/setup.sh", "child/other.sh"),
    ("a trigger reading what the child's .dockerignore excludes", {
        "base/Dockerfile": BASE + "ONBUILD COPY data/ /data/\n",
        "child/Dockerfile": "FROM REG/base:latest\nRUN echo hi > /hi\n",
        "child/.dockerignore": "data/skip.txt\n",
        "child/data/keep.txt": "k\n", "child/data/skip.txt": "s\n",
    }, "child", "child/data/keep.txt", "child/data/skip.txt"),
    ("a trigger using a child build arg", {
        "base/Dockerfile": BASE + "ONBUILD ARG FLAVOUR=b\nONBUILD COPY ${FLAVOUR}/ /f/\n",
        "child/Dockerfile": "FROM REG/base:latest\nRUN echo hi > /hi\n",
        "child/a/x.txt": "a\n", "child/b/x.txt": "b\n",
        "services.toml": _toml({"base": "", "child": 'args = { FLAVOUR = "a" }'}),
    }, "child", "child/a/x.txt", "child/b/x.txt"),
    ("a grandchild runs no triggers", {
        "base/Dockerfile": BASE + "ONBUILD COPY environment.yml /env.yml\n",
        "child/Dockerfile": "FROM REG/base:latest\nRUN echo hi > /hi\n",
        "child/environment.yml": "a: 1\n",
        "grandchild/Dockerfile": "FROM REG/child:latest\nCOPY app.txt /app.txt\n",
        "grandchild/app.txt": "app\n", "grandchild/environment.yml": "g: 1\n",
        "services.toml": _toml({"base": "", "child": "", "grandchild": ""}),
    }, "grandchild", "grandchild/app.txt", "grandchild/environment.yml"),
    ("a path context", {
        "base/Dockerfile": "FROM busybox:1.36\nCOPY --from=shared lib.txt /lib.txt\n"
                           "RUN --mount=type=bind,from=shared,source=run.sh,target=/r.sh "
                           "sh /r.sh > /r\n",
        "shared/lib.txt": "l\n", "shared/run.sh": "echo r\n", "shared/other.txt": "o\n",
        "services.toml": _toml({"base": 'contexts = { shared = "shared" }'}),
    }, "base", "shared/run.sh", "shared/other.txt"),
    ("a path context with its own .dockerignore", {
        "base/Dockerfile": "FROM busybox:1.36\nCOPY --from=shared lib/ /lib/\n",
        "base/.dockerignore": "nothing\n",
        "shared/.dockerignore": "lib/skip.txt\n",
        "shared/lib/keep.txt": "k\n", "shared/lib/skip.txt": "s\n",
        "services.toml": _toml({"base": 'contexts = { shared = "shared" }'}),
    }, "base", "shared/lib/keep.txt", "shared/lib/skip.txt"),
    ("an image context overriding a FROM", {
        "base/Dockerfile": BASE + "ENV SRC=app\nONBUILD COPY environment.yml /env.yml\n",
        "child/Dockerfile": "FROM placeholder\nCOPY ${SRC}/ /src/\n",
        "child/environment.yml": "a: 1\n", "child/app/a.txt": "a\n", "child/lib/b.txt": "b\n",
        "services.toml": _toml({"base": "",
                                "child": 'contexts = { placeholder = "target:base" }'}),
    }, "child", "child/environment.yml", "child/lib/b.txt"),
    ("a docker-image:// context overriding a FROM", {
        "base/Dockerfile": "FROM placeholder\nCOPY app.txt /app.txt\n",
        "base/app.txt": "a\n", "base/other.txt": "o\n",
        "services.toml": _toml({"base": 'contexts = { placeholder = '
                                        '"docker-image://busybox:1.36" }'}),
    }, "base", "base/app.txt", "base/other.txt"),
    ("ENV through one configured ancestor", {
        "base/Dockerfile": BASE + "ENV SRC=app\n",
        "child/Dockerfile": "FROM REG/base:latest\nCOPY ${SRC}/ /x/\n",
        "child/app/a.txt": "a\n", "child/lib/b.txt": "b\n",
    }, "child", "child/app/a.txt", "child/lib/b.txt"),
    ("ENV through two configured ancestors", {
        "base/Dockerfile": BASE + "ENV SRC=app\nENV DIR=${SRC}/sub\n",
        "mid/Dockerfile": "FROM REG/base:latest\nENV OTHER=x\n",
        "child/Dockerfile": "FROM REG/mid:latest\nCOPY ${DIR}/ /x/\n",
        "child/app/sub/a.txt": "a\n", "child/app/b.txt": "b\n",
        "services.toml": _toml({"base": "", "mid": "", "child": ""}),
    }, "child", "child/app/sub/a.txt", "child/app/b.txt"),
]

PARAMS = [(c, files, image, path, stale) for c, files, image, read, unread in CASES
          for path, stale in ((read, True), (unread, False))]


def _build_all(repo: Path, judged: str) -> bool:
    """Builds every image, parents first, as buildorch would pass them to buildx; True when
    `judged` missed BuildKit's cache in any step."""
    cfg = load(repo / "services.toml")
    snap = buildorch.plan(buildorch.load_config(repo / "services.toml"), all_images=True)
    missed = False
    for stale in snap.plan.stale:
        image = cfg.images[stale.name]
        spec = BuildSpec(name=image.name, tags=(cfg.ref(image.name),),
                         dockerfile=repo / image.dockerfile, context=repo / image.context,
                         build_args=image.args,
                         build_contexts=tuple((n, named_context(cfg, v))
                                              for n, v in image.contexts))
        res = run_build(spec, emit=lambda e: None, cancel=threading.Event(),
                        log_path=repo / ".buildorch" / f"{image.name}.log", timeout_s=120,
                        step_timeout_s=None)
        assert res.ok, res.log_tail
        if image.name == judged:
            missed = res.cached_steps < res.steps
    return missed


@pytest.mark.parametrize("case,files,image,path,rebuilds", PARAMS,
                         ids=[f"{p[0]}: {'read' if p[4] else 'unread'} {p[3]}" for p in PARAMS])
def test_planner_agrees_with_buildkit(make_repo: Callable[..., Path], case: str,
                                      files: dict[str, str], image: str, path: str,
                                      rebuilds: bool) -> None:
    reg = f"{PREFIX}ob{uuid.uuid4().hex[:8]}"
    files = {"services.toml": _toml({"base": "", "child": ""}), **files}
    # a run of its own in BuildKit's cache: the first build of the stack misses everywhere
    files["base/Dockerfile"] += f"LABEL run={uuid.uuid4().hex}\n"
    repo = make_repo({k: v.replace("REG", reg) for k, v in files.items()})
    _build_all(repo, image)
    assert not _build_all(repo, image), "the baseline must be fully cached"
    record_manifest(repo)
    cfg = buildorch.load_config(repo / "services.toml")
    assert not buildorch.plan(cfg).plan.stale
    write_files(repo, {path: f"echo edited {uuid.uuid4().hex}\n"})   # scripts still run
    plan = buildorch.plan(cfg).plan
    stale = image in plan.names
    missed = _build_all(repo, image)
    assert missed == rebuilds, f"BuildKit itself: expected miss={rebuilds} for {case}"
    assert stale == missed, (f"{case}: planner says stale={stale}, BuildKit "
                             f"{'rebuilt' if missed else 'cached'} ({plan.stale})")
    if stale:   # the reason names the file, and a trigger's read names its trigger
        reasons = next(s.reasons for s in plan.stale if s.name == image)
        assert any(path in r for r in reasons), reasons
        if "ONBUILD" in files.get("base/Dockerfile", "") and image == "child" and \
                "environment" in path:
            assert any("ONBUILD COPY in base's Dockerfile, line" in r for r in reasons), reasons
