"""Which configured image a FROM names: an image is known by every reference it has.

Pure. A FROM (or `COPY --from=IMAGE`) links to an image, in this order:

1. by its full normalized reference (`acme/base:1.2` is `docker.io/acme/base:1.2`) among the
   references of every image: its `tags`, else the project's `{registry}/{name}:{tag}`;
2. by repository, tag aside, for an image without `tags` (one repository, one image: the
   project's single `tag` is then the only tag, whatever the FROM writes);
3. by name, for an image without `tags`, when the FROM names another registry than the
   project's (`ghcr.io/me/python-base` while `registry = "127.0.0.1:5000/me"`): the
   references the Dockerfiles use for it today.

A digest-pinned FROM (`@sha256:…`) names an external image, always. A link that is not by one
of the parent's own references is `exact = False`: a build must bind that FROM to the parent
just built (`--build-context REF=docker-image://…`), or it would read whatever image the engine
holds under that name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from buildorch.config import Config, context_kind
from buildorch.dockerlang.reference import DEFAULT_DOMAIN, is_pinned, parse


@dataclass(frozen=True)
class Known:
    """One image's references, as the resolver needs them."""

    name: str
    refs: tuple[str, ...]          # tags, else the default reference
    explicit: bool = False         # refs come from `tags`


@dataclass(frozen=True)
class Link:
    child: str
    parent: str
    ref: str                       # as the Dockerfile names it (ARGs expanded)
    how: str                       # "tag" | "repository" | "name"

    @property
    def exact(self) -> bool:
        return self.how == "tag"


@dataclass(frozen=True)
class Links:
    parents: Mapping[str, tuple[str, ...]]
    links: Mapping[str, tuple[Link, ...]]        # child -> its FROM links, in FROM order
    unmatched: tuple[tuple[str, str, str], ...] = field(default=())
    # (child, FROM ref, repository's images' tags): a FROM that names a repository built here
    # under a tag none of its images carries

    def by_name(self) -> list[Link]:
        return [k for ls in self.links.values() for k in ls if k.how == "name"]


class Resolver:
    """The references of every image, indexed once; `resolve` is a few dict lookups."""

    def __init__(self, known: Iterable[Known]) -> None:
        self.by_ref: dict[str, str] = {}
        self.by_repo: dict[str, str] = {}          # images without tags: repository -> name
        self.tagged_repos: dict[str, list[str]] = {}   # repository -> tags images carry
        self.untagged: set[str] = set()
        for k in known:
            for ref in k.refs:
                try:
                    p = parse(ref)
                except ValueError:
                    continue
                self.by_ref.setdefault(str(p), k.name)
                if k.explicit:
                    self.tagged_repos.setdefault(p.repository, []).append(p.tag or "")
                else:
                    self.by_repo.setdefault(p.repository, k.name)
            if not k.explicit:
                self.untagged.add(k.name)

    def resolve(self, ref: str, child: str) -> Link | None:
        if is_pinned(ref):
            return None
        try:
            p = parse(ref)
        except ValueError:
            return None
        parent = self.by_ref.get(str(p))
        how = "tag"
        if parent is None:
            parent, how = self.by_repo.get(p.repository), "repository"
        if parent is None:
            last = p.path.rsplit("/", 1)[-1]
            # Only a FROM naming a registry (never Docker Hub's `bitnami/redis`) links by
            # name: a private registry path ending in the name of an image built here.
            if p.domain != DEFAULT_DOMAIN and last in self.untagged:
                parent, how = last, "name"
        if parent is None or parent == child:
            return None
        return Link(child, parent, ref, how)


def resolve_links(known: Sequence[Known], external: Mapping[str, Sequence[str]],
                  depends_on: Mapping[str, Sequence[str]] | None = None) -> Links:
    """Parents of each image: its FROM links, then `depends_on` (which may name images that
    are not configured: the graph says so)."""
    resolver = Resolver(known)
    parents: dict[str, tuple[str, ...]] = {}
    links: dict[str, tuple[Link, ...]] = {}
    unmatched: list[tuple[str, str, str]] = []
    for k in known:
        found: list[str] = []
        own: list[Link] = []
        for ref in external.get(k.name, ()):
            link = resolver.resolve(ref, k.name)
            if link is None:
                miss = _near_miss(resolver, ref)
                if miss:
                    unmatched.append((k.name, ref, miss))
                continue
            own.append(link)
            if link.parent not in found:
                found.append(link.parent)
        for dep in (depends_on or {}).get(k.name, ()):
            if dep not in found and dep != k.name:   # itself: services.toml's error
                found.append(dep)
        parents[k.name] = tuple(found)
        links[k.name] = tuple(own)
    return Links(parents, links, tuple(unmatched))


def _near_miss(resolver: Resolver, ref: str) -> str:
    if is_pinned(ref):
        return ""
    try:
        p = parse(ref)
    except ValueError:
        return ""
    tags = resolver.tagged_repos.get(p.repository)
    return ", ".join(sorted(set(tags))) if tags else ""


def _known(config: Config) -> list[Known]:
    return [Known(n, config.refs(n), bool(i.tags)) for n, i in config.images.items()]


def config_resolver(config: Config) -> Resolver:
    """A Resolver over a Config's images."""
    return Resolver(_known(config))


def config_links(config: Config, external: Mapping[str, Sequence[str]]) -> Links:
    """`resolve_links` over a Config's images; a `target:` context (`contexts`) is a parent
    as `depends_on` is: built first, and pinned by its context name."""
    return resolve_links(_known(config), external, {
        n: (*i.depends_on, *(rest for kind, rest in (context_kind(v) for _, v in i.contexts)
                             if kind == "target"))
        for n, i in config.images.items()})


def link_notes(config: Config, links: Links) -> list[str]:
    """One line when FROM lines name images under another registry than services.toml's, and
    one per FROM that names a repository built here under a tag no image carries."""
    out: list[str] = []
    by_name = links.by_name()
    if by_name:
        first = by_name[0]
        more = f" and {len(by_name) - 1} more" if len(by_name) > 1 else ""
        out.append(
            f"{config.path.name}: {len(by_name)} FROM line(s) name images built here under "
            f"another registry than [project] registry {config.registry or '(none)'} (e.g. "
            f"{first.child}: FROM {first.ref} is {first.parent}{more}): linked by name, and "
            "builds bind each to the image built here; to name them exactly, change those FROM "
            "lines or set `tags` on the parents")
    for child, ref, tags in links.unmatched:
        out.append(f"{config.path.name}: {config.images[child].table}: FROM {ref} names no "
                   f"image here (that repository is built here as {tags}): it is pulled as "
                   "an external image; fix the tag, or add it to an image's `tags`")
    return out
