"""Docker's .dockerignore rules, as a spec.

Each table row is (.dockerignore text, path relative to the context, does Docker exclude it?).
The answers follow the Go code BuildKit runs (moby/patternmatcher, ignorefile.ReadAll and
tonistiigi/fsutil's walker); see buildorch/dockerignore.py for which rule comes from where.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pathspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildorch.dockerlang.dockerignore import DockerIgnore, ignore_file_for, read_patterns
from buildorch.errors import BuildorchError
from tests.helpers import need_module


def docker_excludes(text: str, path: str) -> bool:
    return DockerIgnore.from_text(text).excluded(path)


def gitignore_ignores(text: str, path: str) -> bool:
    return pathspec.GitIgnoreSpec.from_lines(text.splitlines()).match_file(path)


# Where Docker and gitignore disagree. Each row is checked twice: Docker's answer, and that
# pathspec's GitIgnoreSpec gives the *other* answer, so every row is a real difference.
DOCKER_IS_NOT_GITIGNORE = [
    # A pattern is anchored at the context root, whether or not it has a '/'.
    ("foo", "a/foo", False),
    ("foo", "a/foo/bar.txt", False),
    ("*.pyc", "a/b.pyc", False),
    ("*.py[co]", "pkg/m.pyo", False),
    ("?.txt", "x/a.txt", False),
    ("[ab].txt", "d/a.txt", False),
    ("[a-c]", "d/b", False),
    (".git", "sub/.git/config", False),
    ("*~", "a/b~", False),
    ("tmp*", "a/tmpdir/x", False),
    # A trailing '/' is cleaned away: it neither limits a pattern to directories nor floats it.
    ("build/", "build", True),
    ("build/", "a/build/x", False),
    ("a/b/", "a/b", True),
    ("*/", "a", True),
    ("*.txt/", "a.txt", True),
    ("**/foo/", "a/foo", True),
    # '**' not between slashes is "(.*/)?": any number of whole directories, not characters.
    ("a**b", "a/x/b", True),
    ("a**b", "axb", False),
    ("foo**", "a/foobar", False),
    # Exceptions are anchored too, and a directory's results pass to everything below it.
    ("*\n!src", "src/a.py", False),
    ("*\n!src/", "src/a.py", False),
    ("*\n!*.py", "pkg/a.py", True),
    ("**/*.md\n!README.md", "docs/README.md", True),
    ("a/b\n!a", "a/b/c", True),
    # Lines are trimmed: leading spaces, and spaces after '!', are not part of the pattern.
    ("  foo", "foo", True),
    ("*\n  !keep", "keep", False),
    ("*\n! keep", "keep", False),
    # '#' starts a comment only as a line's very first character.
    (" #foo", "#foo", True),
    # Patterns are cleaned like paths (Go's filepath.Clean).
    ("./foo", "foo", True),
    ("foo/../bar", "bar", True),
    ("//foo", "foo", True),
    ("foo/.", "foo/x", True),
    # moby copies brackets and escapes into a Go regexp: Go's syntax, not fnmatch's.
    ("[!a].txt", "b.txt", False),  # '!' is a member of the class; only '^' negates
    ("[[:digit:]].txt", "5.txt", True),  # a POSIX class inside the brackets
    ("\\d.txt", "5.txt", True),  # "\d" stays a regexp digit class
    ("^*", "x", True),  # '^' is not escaped: a start anchor, so this is just '*'
]


@pytest.mark.filterwarnings("ignore::FutureWarning")  # pathspec on "[[:digit:]]"
@pytest.mark.parametrize(("text", "path", "excluded"), DOCKER_IS_NOT_GITIGNORE)
def test_docker_differs_from_gitignore(text: str, path: str, excluded: bool) -> None:
    assert docker_excludes(text, path) is excluded
    assert gitignore_ignores(text, path) is not excluded


# Where they agree: the ordinary cases.
DOCKER_AS_GITIGNORE = [
    ("foo", "foo", True),
    ("foo", "foo/a/b", True),  # a matched directory covers everything below it
    ("foo", "foobar", False),
    ("/foo", "foo", True),
    ("/foo", "a/foo", False),
    ("*.pyc", "b.pyc", True),
    ("**/*.pyc", "a/b/c.pyc", True),
    ("**/*.pyc", "c.pyc", True),
    ("**/x", "x", True),
    ("**", "a/b/c", True),
    ("*", ".hidden", True),
    ("foo/*", "foo/a/b", True),
    ("foo/**", "foo/a", True),
    ("foo/**", "foo", False),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("*/b", "x/b", True),
    ("*/b", "x/y/b", False),
    ("b/*", "a/b/c", False),
    ("doc/*.md", "doc/sub/a.md", False),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),  # '?' never matches '/'
    ("*.md\n!README.md", "README.md", False),  # the last matching line wins
    ("!README.md\n*.md", "README.md", True),
    ("foo\\*", "foo*", True),
    ("foo\\*", "foox", False),
    ("\\#foo", "#foo", True),
    ("#foo", "#foo", False),
    ("\\!foo", "!foo", True),
    ("foo   ", "foo", True),
    ("foo\r\nbar", "bar", True),
    ("*.TXT", "a.txt", False),  # case-sensitive
]


@pytest.mark.parametrize(("text", "path", "excluded"), DOCKER_AS_GITIGNORE)
def test_docker_agrees_with_gitignore(text: str, path: str, excluded: bool) -> None:
    assert docker_excludes(text, path) is excluded
    assert gitignore_ignores(text, path) is excluded


# Docker-only rules; no gitignore comparison needed (or pathspec cannot make one).
DOCKER_RULES = [
    # An exception re-includes a file inside an excluded directory; git refuses that (see the
    # next test), pathspec does not model git's refusal.
    ("node_modules\n!node_modules/keep/x.js", "node_modules/keep/x.js", False),
    ("node_modules\n!node_modules/keep/x.js", "node_modules/keep/y.js", True),
    ("a\n!a/b", "a/b/c", False),  # the re-included directory passes it on
    ("!a/b\na", "a/b/c", True),  # an exception before the exclusion changes nothing
    ("**/*.pyc\n!keep.pyc", "keep.pyc", False),
    ("**/*.pyc\n!keep.pyc", "a/keep.pyc", True),
    ("*\n!*/", "x/y", False),  # "*/" cleans to "*": every top-level entry is re-included
    # '**' forms.
    ("**foo", "a/barfoo", True),
    ("**/a/b", "a/b", True),
    ("**/a/b", "x/a/b", True),
    ("**/a/b", "xa/b", False),
    ("foo/*", "foo", False),
    # Escapes and classes are Go regexp syntax (moby writes the pattern into a Go regexp).
    ("\\*", "*", True),
    ("\\*", "a", False),
    ("\\?x", "?x", True),
    ("\\[a]", "[a]", True),
    ("\\x41*", "Abc", True),  # a hex escape
    ("[[:upper:]]*", "Makefile", True),
    ("[[:upper:]]*", "makefile", False),
    ("[^a]b", "xb", True),
    ("[^a]b", "ab", False),
    ("[*]", "*", False),  # '*' becomes "[^/]*" even inside brackets: "[[^/]*]" in Go...
    ("[*]", "]", True),  # ...which is the class "[[^/]" repeated, then a literal ']'
    ("a^b", "a^b", True),  # no wildcard: compared as a plain string, '^' and all
    ("a^b*", "a^bc", False),  # in a regexp '^' is an anchor, so this matches nothing
    # text/scanner skips a BOM that starts a pattern when building the regexp, not otherwise.
    ("x\n\ufeff*.go", "a.go", True),
    ("x\n\ufefffoo", "foo", False),
    # Go's '.' does not match a newline, so "(.*/)?" cannot cross one.
    ("**/*.pyc", "a\nb/c.pyc", False),
    ("**/c.pyc", "a\nb/c.pyc", True),
]


@pytest.mark.parametrize(("text", "path", "excluded"), DOCKER_RULES)
def test_docker_rule(text: str, path: str, excluded: bool) -> None:
    assert docker_excludes(text, path) is excluded


def test_git_cannot_reinclude_inside_an_excluded_directory(tmp_path: Path) -> None:
    # Real git, since pathspec does not model this rule: Docker sends node_modules/keep.js.
    text = "node_modules\n!node_modules/keep.js\n"
    (tmp_path / ".gitignore").write_text(text)
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules/keep.js").write_text("")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"],
        cwd=tmp_path, check=True, capture_output=True, text=True,
    ).stdout.split()
    assert "node_modules/keep.js" not in untracked  # git ignores it
    assert not docker_excludes(text, "node_modules/keep.js")  # Docker sends it


READ_PATTERNS = [
    ("", ()),
    ("# comment\nfoo", ("foo",)),
    (" # not a comment", ("# not a comment",)),
    ("\ufeff# comment\nfoo", ("foo",)),
    ("\ufefffoo", ("foo",)),
    ("a\n\ufeffb", ("a", "\ufeffb")),  # only the first line loses a BOM
    ("  foo  \n\tbar\t\n\n", ("foo", "bar")),
    ("\u00a0foo", ("foo",)),  # Go's TrimSpace knows Unicode spaces...
    ("\x1cfoo", ("\x1cfoo",)),  # ...but not the separators Python's str.strip() removes
    ("a\x0bb\x0cc", ("a\x0bb\x0cc",)),  # only '\n' ends a line
    ("foo\r\nbar\r\n", ("foo", "bar")),
    ("/foo\n//bar\n/", ("foo", "bar", "/")),
    ("./a/../b/", ("b",)),
    ("..\n../x\n.\n./", ("..", "../x", ".", ".")),
    ("! /x/../y", ("!y",)),
    ("!\n! ", ("!", "!")),  # kept: DockerIgnore is what rejects them
    ("!/", ("!/",)),
    ("/!x", ("!x",)),  # not an exception here, but it reads as one afterwards
]


@pytest.mark.parametrize(("text", "patterns"), READ_PATTERNS)
def test_read_patterns(text: str, patterns: tuple[str, ...]) -> None:
    assert read_patterns(text) == patterns


def test_read_patterns_refuses_a_line_docker_cannot_scan() -> None:
    read_patterns("x" * (64 * 1024 - 1))
    with pytest.raises(BuildorchError, match="64 KiB"):
        read_patterns("ok\n" + "x" * (64 * 1024))


MALFORMED = [
    ("!", "put a path after it"),
    ("! ", "put a path after it"),
    ("!/", "put a path after it"),  # New cleans "!/" to "!"
    ("foo[", "unclosed or malformed"),
    ("[]", "unclosed or malformed"),
    ("[]a]", "unclosed or malformed"),
    ("[a-]", "unclosed or malformed"),
    ("[-a]", "unclosed or malformed"),
    ("x\\", "lone"),
    ("a\\ ", "lone"),  # the trailing space is trimmed first, leaving a lone '\'
    ("[z-a]", "backwards"),
    ("[[:nope:]]", "unknown character class"),
    ("\\q", "Go's regexp rejects"),
    ("\\1", "back-reference"),
    ("\\pL", "cannot reproduce"),
]


@pytest.mark.parametrize(("text", "why"), MALFORMED)
def test_malformed_pattern_is_a_user_error(text: str, why: str) -> None:
    with pytest.raises(BuildorchError, match=why) as caught:
        DockerIgnore.from_text(text)
    message = str(caught.value)
    assert "\n" not in message
    assert repr(read_patterns(text)[0]) in message  # names the pattern


def test_blank_patterns_are_skipped_and_empty_excludes_nothing() -> None:
    assert DockerIgnore(("", "  ")).filter(["a", "b/c"]) == ["a", "b/c"]
    assert not DockerIgnore.from_text("# only a comment\n").excluded("a")


def test_filter_keeps_order_and_agrees_with_excluded() -> None:
    ignore = DockerIgnore.from_text("*.log\n!keep.log\nbuild\n**/__pycache__\n")
    paths = ["z.py", "a.log", "keep.log", "build/x", "src/__pycache__/m.pyc", "src/m.py", "z.py"]
    assert ignore.filter(paths) == ["z.py", "keep.log", "src/m.py", "z.py"]
    assert [p for p in paths if not ignore.excluded(p)] == ignore.filter(paths)


def test_equal_by_patterns() -> None:
    assert DockerIgnore.from_text("/a\n") == DockerIgnore(("a",))
    assert len({DockerIgnore(("a",)), DockerIgnore.from_text("a")}) == 1


# --- random patterns ---------------------------------------------------------------------------

NAME = st.text("ab.-_", min_size=1, max_size=3).filter(lambda s: s not in (".", ".."))
PATH = st.lists(NAME, min_size=1, max_size=4).map("/".join)
# Only syntax that e2b-dockerfile-utils ports faithfully (it reads '\' + letter and '[' with a
# '*' or '?' inside differently from Go): literals, '*', '**', '?', simple classes, escapes.
TOKEN = st.sampled_from(
    ["a", "b", ".", "-", "ab", "*", "**", "?", "[ab]", "[^a]", "[a-c]", "\\*", "\\.", "\\?"]
)
# Not "." or "..": cleaning would remove them, and "!/." becomes a lone "!", which Docker
# rejects and e2b does not.
SEGMENT = (
    st.lists(TOKEN, min_size=1, max_size=3).map("".join).filter(lambda s: s not in (".", ".."))
)
PATTERN = st.builds(
    lambda bang, slash, segments, trailing: bang + slash + "/".join(segments) + trailing,
    st.sampled_from(["", "", "!"]),
    st.sampled_from(["", "/"]),
    st.lists(SEGMENT, min_size=1, max_size=3),
    st.sampled_from(["", "/"]),
)


# conftest's autouse cwd fixture is function-scoped; these tests never touch the cwd.
RANDOM = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def e2b_matcher() -> type:
    module = need_module("e2b_dockerfile_utils",
                         "the dev extra has it: pip install -e '.[dev]'")
    matcher: type = module.PatternMatcher
    return matcher


@settings(RANDOM, max_examples=400)
@given(patterns=st.lists(PATTERN, min_size=1, max_size=5), paths=st.lists(PATH, max_size=8))
def test_same_answers_as_e2b_dockerfile_utils(
    e2b_matcher: type, patterns: list[str], paths: list[str]
) -> None:
    # e2b-dockerfile-utils is an independent port of the same Go code, measured against the
    # engine; it is a test oracle only.
    theirs = e2b_matcher(patterns)
    ours = DockerIgnore.from_text("\n".join(patterns))
    for path in paths:
        assert ours.excluded(path) == theirs.matches(path), (patterns, path)


@settings(RANDOM, max_examples=200)
@given(patterns=st.lists(PATTERN, min_size=1, max_size=5), paths=st.lists(PATH, max_size=12))
def test_cached_filter_matches_fresh_answers(patterns: list[str], paths: list[str]) -> None:
    text = "\n".join(patterns)
    fresh = [p for p in paths if not DockerIgnore.from_text(text).excluded(p)]
    assert DockerIgnore.from_text(text).filter(paths) == fresh


# --- which ignore file -------------------------------------------------------------------------

IGNORE_FILE = [
    # (Dockerfile, context, files that exist, the ignore file BuildKit reads)
    ("Dockerfiles/stt.Dockerfile", ".",
     {"Dockerfiles/stt.Dockerfile.dockerignore", ".dockerignore"},
     "Dockerfiles/stt.Dockerfile.dockerignore"),
    ("Dockerfiles/stt.Dockerfile", ".", {".dockerignore"}, ".dockerignore"),
    ("services/stt/Dockerfile", "services/stt", {"services/stt/.dockerignore"},
     "services/stt/.dockerignore"),
    ("services/stt/Dockerfile", "services/stt",
     {"services/stt/Dockerfile.dockerignore", "services/stt/.dockerignore"},
     "services/stt/Dockerfile.dockerignore"),
    ("./services/stt/Dockerfile", "./services/stt/", {"services/stt/Dockerfile.dockerignore"},
     "services/stt/Dockerfile.dockerignore"),
    ("Dockerfile", ".", {"Dockerfile.dockerignore"}, "Dockerfile.dockerignore"),
    # Beside the Dockerfile, even when the Dockerfile is outside the context.
    ("docker/api.Dockerfile", "services/api", {"docker/api.Dockerfile.dockerignore"},
     "docker/api.Dockerfile.dockerignore"),
    # Not beside the Dockerfile in the context: that name means nothing to BuildKit.
    ("docker/api.Dockerfile", "services/api", {"services/api/api.Dockerfile.dockerignore"},
     None),
    # The fallback is the context's .dockerignore, not the repository's.
    ("svc/Dockerfile", "svc", {".dockerignore"}, None),
    ("Dockerfile", ".", set(), None),
]


@pytest.mark.parametrize(("dockerfile", "context", "files", "expected"), IGNORE_FILE)
def test_ignore_file_for(
    dockerfile: str, context: str, files: set[str], expected: str | None
) -> None:
    assert ignore_file_for(dockerfile, context, files.__contains__) == expected
