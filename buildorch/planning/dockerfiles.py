"""Dockerfiles by their names: which files are Dockerfiles, the image name a path gives by
convention, and images a FROM names that a tracked Dockerfile builds but services.toml lacks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from buildorch.config import NAME_RE, Config
from buildorch.dockerlang.reference import repository_of

DOCKERFILE_RE = re.compile(r"(?:(?:docker|container)file(?:\.[^/]+)?|[^/]+\.(?:docker|container)"
                           r"file)", re.IGNORECASE)
TEST_DIRS = frozenset({"test", "tests", "testdata", "testing", "fixtures", "__tests__", "e2e"})
VENDORED = frozenset({"node_modules", ".venv", "venv", ".tox", "site-packages", "vendor"})
VARIANTS = frozenset({"dev", "devel", "development", "prod", "production", "local", "debug",
                      "ci", "release", "build", "slim", "alpine", "test", "tests"})


def is_dockerfile(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return DOCKERFILE_RE.fullmatch(name) is not None and not name.lower().endswith(
        ".dockerignore")


def normal_name(text: str) -> str | None:
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("._-")
    name = re.sub(r"[._-]*([._-])[._-]*", r"\1", name)
    return name if name and NAME_RE.match(name) and len(name) <= 128 else None


def conventional_name(path: str, root_name: str) -> tuple[str | None, str]:
    """A Dockerfile's image name by convention, and how it was found: `Dockerfile.python-ml`,
    `python-ml.Dockerfile`, `images/python-ml/Dockerfile` all give `python-ml`."""
    folder, _, base = path.rpartition("/")
    folder_name = folder.rsplit("/", 1)[-1] if folder else root_name
    lower = base.lower()
    if lower in ("dockerfile", "containerfile"):
        where = f"its folder {folder}/" if folder else "the repository folder"
        return normal_name(folder_name), f"the name of {where}"
    if lower.startswith(("dockerfile.", "containerfile.")):
        word = base.split(".", 1)[1]
        how = f"{base.split('.', 1)[0]}.<name>"
    else:
        word = base.rsplit(".", 1)[0]
        how = f"<name>.{base.rsplit('.', 1)[1]}"
    if word.lower() in VARIANTS:
        return normal_name(f"{folder_name}-{word}"), f"its folder and {how} (a variant)"
    return normal_name(word), how


def looks_test_only(path: str) -> str:
    """Why a Dockerfile looks test-only ('' when it does not)."""
    parts = path.lower().split("/")
    hit = next((p for p in parts[:-1] if p in TEST_DIRS), None)
    if hit:
        return f"under a {hit}/ folder: looks test-only"
    if any(w in ("test", "tests") for w in parts[-1].split(".")):
        return "named for tests: looks test-only"
    return ""


def _mentioning_dockerfile(paths: list[str]) -> list[str]:
    """The paths that contain `dockerfile`/`containerfile` in any case, found by str.find over
    all of them at once (a Python loop over 50,000 paths costs a plan ~70 ms)."""
    text = "\n".join(paths)
    low = text.lower()
    out: dict[str, None] = {}
    for word in ("dockerfile", "containerfile"):
        i = low.find(word)
        while i >= 0:
            start = low.rfind("\n", 0, i) + 1
            end = low.find("\n", i)
            end = len(low) if end < 0 else end
            out[text[start:end]] = None
            i = low.find(word, end)
    return list(out)


def _registry_named(ref: str) -> bool:
    from buildorch.dockerlang.reference import DEFAULT_DOMAIN, is_pinned, parse

    try:
        return not is_pinned(ref) and parse(ref).domain != DEFAULT_DOMAIN
    except ValueError:
        return False


def unconfigured_bases(config: Config, external: Mapping[str, Sequence[str]],
                       paths: Iterable[str] | Callable[[], Iterable[str]]) -> list[str]:
    """One line per image a configured image builds FROM as `{registry}/X` (or as X under
    another registry than Docker Hub: the registry may have changed) where X is not in
    services.toml but a Dockerfile here builds X (the seed's worst failure: a base edit that
    plans nothing). `paths` (or the function giving them) is only walked when some FROM
    names such an X."""
    prefix = repository_of(f"{config.registry}/x")[:-1] if config.registry else None
    wanted: dict[str, str] = {}
    for name, refs in external.items():
        for ref in refs:
            repo = repository_of(ref)
            if prefix is not None and repo.startswith(prefix):
                x = repo[len(prefix):]
            elif _registry_named(ref):   # a bare FROM python:3.11 is Docker Hub's
                x = repo.rsplit("/", 1)[-1]
            else:
                continue
            if "/" not in x and x not in config.images and x not in wanted:
                wanted[x] = name
    if not wanted:
        return []
    found: dict[str, str] = {}
    root_name = config.root.name
    for p in _mentioning_dockerfile(list(paths() if callable(paths) else paths)):
        if not is_dockerfile(p) or looks_test_only(p) or VENDORED.intersection(p.split("/")[:-1]):
            continue
        n = conventional_name(p, root_name)[0]
        if n in wanted and n not in found:
            found[n] = p
    return [f"{x} is built here from {found[x]} but is not in {config.path.name}: add "
            f"[base.{x}] (or `buildorch init --force`); {wanted[x]} builds FROM it"
            for x in sorted(found)]
