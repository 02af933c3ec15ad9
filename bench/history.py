"""Deterministic synthetic git history for benchmarking secret scanners' history mode.

`python bench/history.py OUTDIR [--commits 20000] [--seed N]` creates a bare git repository
at OUTDIR with `git fast-import`: a main line, feature branches forked from it and merged back
with two-parent merge commits, an experiment branch that is never merged, a hotfix branch
reachable only from an annotated tag, release tags, and files of many languages and config
formats (reusing bench/corpus.py's renderers) that are added, edited, renamed and deleted.

Secrets of many kinds are planted along the way in several scenarios (kept, deleted later,
in a file later deleted or renamed, only on the unmerged branch, only behind the tag, added and
removed within a feature branch, added by a merge commit itself (two- or three-parent), in a
path with spaces and non-ASCII letters, the same value pasted again later), plus look-alike
decoys. Authors, committers, timestamps and contents come from one
`random.Random(seed)`, so a seed and a commit count always give the same commit ids.

The ground truth goes to `OUTDIR.manifest.json` (beside OUTDIR, outside the repository):

    {"secrets": [{"id", "kind", "scenario", "branch", "path", "line", "line_end", "commit",
                  "paths", "lines", "value", "events"}, ...],
     "decoys": [...same fields...], "refs": {...}, "stats": {...}, ...}

`commit` is the full id of the commit that introduced the secret, `path` its path in that
commit, `line`/`line_end` its 1-based inclusive line span there. `paths` is every path the
secret's file had (renames), `lines` the text of its lines (stripped), so a scorer can tell
whether any line of any blob of the history holds it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import corpus as cp  # noqa: E402  (bench/ is not a package)

DEFAULT_SEED = 20_240
DEFAULT_COMMITS = 20_000
MIN_COMMITS = 400  # below this the scenarios do not fit
EPOCH = 1_600_000_000  # 2020-09-13: first commit's timestamp; each later one is later
MAIN = "main"
AUTHORS = (
    ("Avery Chen", "avery.chen@acme.example"),
    ("Bruno Silva", "bruno.silva@acme.example"),
    ("Chidi Okafor", "chidi.okafor@acme.example"),
    ("Dana Kowalski", "dana.kowalski@acme.example"),
    ("Emeka Nwosu", "emeka.nwosu@acme.example"),
    ("Farah Haddad", "farah.haddad@acme.example"),
    ("Greta Lindqvist", "greta.lindqvist@acme.example"),
)
RELEASE_BOT = ("Release Bot", "release-bot@acme.example")

# Formats of ordinary files and how often a new file has each.
FORMAT_WEIGHTS = {
    "py": 18,
    "ts": 10,
    "js": 7,
    "go": 8,
    "java": 6,
    "php": 3,
    "rb": 3,
    "cs": 4,
    "sh": 4,
    "yaml": 10,
    "json": 5,
    "xml": 2,
    "ini": 2,
    "toml": 3,
    "env": 2,
    "props": 3,
    "docker": 2,
    "tf": 4,
    "md": 6,
}
# Code formats: units and snippets go in at a chunk boundary (a blank line followed by a line
# at this indentation: top level, or class members for Java and C#).
BOUNDARY_INDENT = {
    "py": "",
    "js": "",
    "ts": "",
    "go": "",
    "php": "",
    "rb": "",
    "sh": "",
    "md": "",
    "java": "    ",
    "cs": "    ",
}
# Config formats where a snippet can be appended at the end and stay valid.
APPEND_FORMATS = ("yaml", "ini", "toml", "env", "props", "docker")
INSERTABLE = (*BOUNDARY_INDENT, *APPEND_FORMATS)
# A "key = value" line of each config format, after which another entry can go.
KV_ANCHOR = {
    "yaml": re.compile(r"^(\s*)[a-z][a-z_]*: [^|>\s&*]"),
    "json": re.compile(r'^(\s*)"[A-Za-z]+": [^{\[].*,$'),
    "xml": re.compile(r"^(\s*)<add key="),
    "ini": re.compile(r"^()[a-z_]+ = "),
    "toml": re.compile(r"^()[a-z_]+ = "),
    "env": re.compile(r"^()[A-Z][A-Z_]*="),
    "props": re.compile(r"^()[a-z][a-z.]*="),
    "tf": re.compile(r"^(\s+)[a-z_]+\s+= "),
    "docker": re.compile(r"^()ENV "),
}
NUMBER = re.compile(r"(?<![\w.$/:-])(\d{1,4})(?![\w.:/-])")

# Kinds planted first, so that every history has them; the rest follow in seeded order.
MUST_HAVE_KINDS = (
    "github-pat-classic",
    "aws-access-key-id",
    "slack-bot-token",
    "stripe-live-secret-key",
    "rsa-private-key",
    "postgres-uri",
    "password-yaml",
    "password-env",
    "password-py",
    "npm-token",
    "jwt",
)
# Provider tokens and keys with a distinctive fixed form (prefix, checksum, PEM header): what
# every secret scanner has a rule for. The scenarios that test history handling plant these, so
# that a miss there is the history walk's, not the detector's; detection breadth is measured by
# the "kept" and "feature" scenarios (and by bench/run.py).
PROVIDER_KINDS = (
    "github-pat-classic",
    "github-pat-fine-grained",
    "gitlab-pat",
    "slack-bot-token",
    "slack-webhook-url",
    "stripe-live-secret-key",
    "sendgrid-api-key",
    "google-api-key",
    "openai-api-key",
    "anthropic-api-key",
    "npm-token",
    "pypi-token",
    "digitalocean-token",
    "shopify-access-token",
    "doppler-token",
    "vault-token",
    "postman-api-key",
    "linear-api-key",
    "databricks-token",
    "planetscale-password",
    "aws-access-key-id",
    "rsa-private-key",
    "openssh-private-key",
    "ec-private-key",
)
DETECTION_SCENARIOS = ("kept", "feature")

# Scenario -> how many plantings (an AWS key id brings its secret key: two secrets).
SCENARIOS: dict[str, int] = {
    "kept": 14,  # on main, never removed
    "feature": 7,  # on a feature branch, merged into main
    "removed": 5,  # on main, the lines are deleted in a later commit
    "file-deleted": 4,  # on main, the file is deleted in a later commit
    "renamed": 2,  # on main, the file is later renamed (content unchanged)
    "renamed-edited": 2,  # on main, the file is later renamed and edited in the same commit
    "unmerged": 4,  # only on the experiment branch, which is never merged
    "tag-only": 2,  # only on a hotfix branch whose ref is deleted: reachable from a tag
    "feature-removed": 2,  # added and removed again within a feature branch, then merged
    "merge": 3,  # added by a merge commit itself (not by either parent)
    "octopus-merge": 1,  # added by a merge of two feature branches at once (three parents)
    "odd-path": 2,  # on main, in a new file whose path has spaces and non-ASCII letters
    "reused": 2,  # a value planted earlier on main, pasted again into another file later
    "copied": 2,  # a file holding a secret copied verbatim to a new path (the same blob)
}
DECOYS = 30


# --------------------------------------------------------------------------- file states


@dataclass(frozen=True)
class FileState:
    """One version of a text file. Immutable: branches share versions until they change one.

    `tags[i]` is the id of the planted secret or decoy whose value is on line i, "~" + id for
    the other lines of its snippet (so the snippet can be removed whole), None for benign lines.
    """

    fmt: str
    lines: tuple[str, ...]
    tags: tuple[str | None, ...]

    def data(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()

    def planted(self) -> bool:
        return any(t is not None for t in self.tags)


def from_rendered(fmt: str, rendered: Sequence[cp.Line]) -> FileState:
    return FileState(
        fmt,
        tuple(text for text, _ in rendered),
        tuple(m.ident if m is not None else None for _, m in rendered),
    )


def insert(fs: FileState, at: int, lines: Sequence[str], tags: Sequence[str | None]) -> FileState:
    return FileState(
        fs.fmt,
        fs.lines[:at] + tuple(lines) + fs.lines[at:],
        fs.tags[:at] + tuple(tags) + fs.tags[at:],
    )


def boundaries(fs: FileState) -> list[int]:
    """Line indices where a code chunk starts after a blank line (see BOUNDARY_INDENT)."""
    ind = BOUNDARY_INDENT.get(fs.fmt)
    if ind is None:
        return []
    out = []
    for p in range(1, len(fs.lines)):
        line = fs.lines[p]
        if (
            fs.lines[p - 1] == ""
            and fs.tags[p - 1] is None
            and line.startswith(ind)
            and len(line) > len(ind)
            and not line[len(ind)].isspace()
            and line[len(ind)] not in "})]"
        ):
            out.append(p)
    return out


def snippet_position(rng: random.Random, fs: FileState) -> int | None:
    """Where a snippet can go in this file, or None."""
    if fs.fmt in BOUNDARY_INDENT:
        spots = boundaries(fs)
        return rng.choice(spots) if spots else None
    if fs.fmt == "docker":
        for i, line in enumerate(fs.lines):
            if line.startswith("EXPOSE"):
                return i
    if fs.fmt in APPEND_FORMATS:
        return len(fs.lines)
    return None


def benign_unit(b: cp.Benign, fmt: str) -> list[str]:
    units: dict[str, Callable[[], list[str]]] = {
        "py": b.py_unit,
        "js": lambda: b.js_unit(False),
        "ts": lambda: b.js_unit(True),
        "go": b.go_unit,
        "java": b.java_unit,
        "php": b.php_unit,
        "rb": b.rb_unit,
        "cs": b.cs_unit,
        "sh": b.sh_unit,
        "md": lambda: [f"## {b.verb().capitalize()} {b.noun()}s", "", b.sentence()],
    }
    return units[fmt]()


def kv_line(b: cp.Benign, fmt: str, indent: str) -> str:
    words, value = b.kv()
    if fmt == "docker":
        return f"ENV {cp.upper_snake(words)}={value}"
    text = indent + cp.render_kv(fmt, words, value)
    return text + "," if fmt == "json" else text


def edit(rng: random.Random, fs: FileState) -> FileState:
    """A benign change that leaves every planted line as it is."""
    b = cp.Benign(rng)
    for _ in range(4):
        choice = rng.random()
        spots = boundaries(fs)
        if fs.fmt in BOUNDARY_INDENT and spots and choice < 0.45 and len(fs.lines) < 260:
            at = rng.choice(spots)
            ind = BOUNDARY_INDENT[fs.fmt]
            unit = [ind + x if x else x for x in benign_unit(b, fs.fmt)] + [""]
            return insert(fs, at, unit, [None] * len(unit))
        if fs.fmt in BOUNDARY_INDENT and len(spots) > 3 and choice < 0.6:
            start = rng.choice(spots)
            end = start
            while end < len(fs.lines) and fs.lines[end] != "":
                end += 1
            if end < len(fs.lines) and all(t is None for t in fs.tags[start : end + 1]):
                return FileState(
                    fs.fmt,
                    fs.lines[:start] + fs.lines[end + 1 :],
                    fs.tags[:start] + fs.tags[end + 1 :],
                )
        anchor = KV_ANCHOR.get(fs.fmt)
        if anchor is not None and choice < 0.6 and len(fs.lines) < 260:
            rows = [
                (i, m.group(1))
                for i, line in enumerate(fs.lines)
                if fs.tags[i] is None and (m := anchor.match(line))
            ]
            if rows:
                i, ind = rng.choice(rows)
                return insert(fs, i + 1, [kv_line(b, fs.fmt, ind)], [None])
        numbered = [
            i for i, line in enumerate(fs.lines) if fs.tags[i] is None and NUMBER.search(line)
        ]
        if numbered:
            i = rng.choice(numbered)
            matches = list(NUMBER.finditer(fs.lines[i]))
            m = rng.choice(matches)
            old = int(m.group(1))
            new = str(old + rng.randint(1, 9) if old < 9000 else old - rng.randint(1, 9))
            line = fs.lines[i][: m.start()] + new + fs.lines[i][m.end() :]
            return FileState(fs.fmt, (*fs.lines[:i], line, *fs.lines[i + 1 :]), fs.tags)
    # Nothing else applied: a comment line at the end (every format has comments or prose).
    comment = {"json": None, "xml": "<!-- {} -->", "md": "{}", "ini": "; {}", "props": "# {}"}
    style = comment.get(
        fs.fmt, "// {}" if fs.fmt in ("js", "ts", "go", "java", "php", "cs") else "# {}"
    )
    if style is None:  # JSON has no comments: touch a number, or leave it alone
        return fs
    at = len(fs.lines) - (1 if fs.fmt in ("java", "cs") else 0)
    return insert(fs, at, [style.format(b.sentence())], [None])


def remove_plant(fs: FileState, ids: set[str]) -> FileState:
    drop = ids | {"~" + i for i in ids}
    keep = [i for i, t in enumerate(fs.tags) if t not in drop]
    lines = [fs.lines[i] for i in keep]
    tags = [fs.tags[i] for i in keep]
    # Removing a snippet leaves two blank lines where it was: keep one.
    out_l: list[str] = []
    out_t: list[str | None] = []
    for line, tag in zip(lines, tags, strict=True):
        if line == "" and out_l and out_l[-1] == "" and (len(out_l) < 2 or out_l[-2] == ""):
            continue
        out_l.append(line)
        out_t.append(tag)
    return FileState(fs.fmt, tuple(out_l), tuple(out_t))


# --------------------------------------------------------------------------- paths


class Paths:
    """Unique file paths for each format, like a polyglot monorepo; never reused."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _mod(self) -> str:
        r = self.rng
        if r.random() < 0.5:
            return f"{r.choice(cp.VERBS)}_{r.choice(cp.NOUNS)}"
        return r.choice(
            [*cp.NOUNS, "settings", "client", "models", "api", "db", "tasks", "utils", "auth"]
        )

    def _raw(self, fmt: str) -> str:
        r, mod = self.rng, self._mod()
        svc, env, noun = r.choice(cp.SERVICES), r.choice(cp.ENVS), r.choice(cp.NOUNS)
        camel = cp.camel(mod.split("_"))
        pascal = cp.pascal(mod.split("_"))
        user = r.choice(cp.USERS).replace("_", "-")
        choices: dict[str, list[str]] = {
            "py": [
                f"services/{svc}/src/{svc}/{r.choice(['', 'api/', 'core/', 'jobs/'])}{mod}.py",
                f"services/{svc}/tests/test_{mod}.py",
                f"scripts/{mod}.py",
            ],
            "js": [f"web/{svc}-ui/src/{r.choice(['lib', 'components', 'api'])}/{camel}.js"],
            "ts": [f"web/{svc}-ui/src/{r.choice(['services', 'store', 'api'])}/{camel}.ts"],
            "go": [f"go/{r.choice(['internal', 'pkg', 'cmd'])}/{noun}/{mod}.go"],
            "java": [f"services/{svc}-java/src/main/java/com/acme/{svc}/{pascal}.java"],
            "php": [f"legacy/portal/{r.choice(['src', 'lib', 'config'])}/{mod}.php"],
            "rb": [f"tools/ruby/{r.choice(['lib', 'app/models', 'config'])}/{mod}.rb"],
            "cs": [f"dotnet/{cp.pascal([svc])}Service/{pascal}.cs"],
            "sh": [f"scripts/{mod.replace('_', '-')}.sh", f"deploy/bin/{mod.replace('_', '-')}"],
            "yaml": [
                f"config/{env}/{svc}.yaml",
                f"deploy/k8s/{svc}/{noun}-deployment.yaml",
                f"deploy/compose/docker-compose.{svc}.yml",
                f".github/workflows/{mod.replace('_', '-')}.yml",
            ],
            "json": [f"config/{env}/{svc}-{noun}.json", f"web/{svc}-ui/config/{mod}.json"],
            "xml": [f"dotnet/{cp.pascal([svc])}Service/App.{env}.config", f"config/{svc}.xml"],
            "ini": [f"config/{svc}.ini", f"deploy/ansible/{noun}.cfg"],
            "toml": [f"services/{svc}/config/{env}.toml", f"tools/{mod}.toml"],
            "env": [f"deploy/env/{svc}.{env}.env", f"services/{svc}/.env.{env}"],
            "props": [
                f"services/{svc}-java/src/main/resources/application-{env}.properties",
            ],
            "docker": [f"services/{svc}/Dockerfile.{noun}", f"docker/{noun}/Dockerfile"],
            "tf": [f"infra/terraform/{svc}/{mod}.tf"],
            "md": [f"docs/{noun}/{mod.replace('_', '-')}.md", f"services/{svc}/{noun.upper()}.md"],
            "pem": [f"deploy/keys/{svc}-{noun}.pem", f"ops/home/{user}/.ssh/id_{noun}"],
            "pem_public": [f"deploy/keys/{svc}-{noun}.pub.pem"],
            "authorized_keys": [f"ops/home/{user}/.ssh/authorized_keys"],
            "netrc": [f"ops/home/{user}/.netrc"],
            "pgpass": [f"ops/home/{user}/.pgpass"],
            "git_credentials": [f"ops/home/{user}/.git-credentials"],
            "htpasswd": [f"deploy/nginx/{svc}.htpasswd"],
            "shadow": [f"ops/images/{svc}-{env}/etc/shadow"],
            "docker_config": [f"ops/home/{user}/.docker/config.json"],
            "kubeconfig": [f"deploy/kubeconfig/{env}-{svc}.yaml"],
            "npmrc": [f"web/{svc}-ui/.npmrc"],
            "pypirc": [f"ops/home/{user}/.pypirc"],
            "aws_credentials": [f"ops/home/{user}/.aws/credentials"],
        }
        return r.choice(choices[fmt])

    def _unique(self, path: str) -> str:
        """`path`, or `dir/stem-N.ext` for the first N not used yet."""
        head, slash, name = path.rpartition("/")
        stem, _, ext = name.rpartition(".")
        n = 2
        while path in self.used:
            path = head + slash + (f"{stem}-{n}.{ext}" if stem else f"{name}-{n}")
            n += 1
        self.used.add(path)
        return path

    def new(self, fmt: str) -> str:
        return self._unique(self._raw(fmt))

    def odd(self, fmt: str) -> str:
        """A path with spaces and non-ASCII letters (quoted by git in diffs and listings)."""
        head, _, name = self._raw(fmt).rpartition("/")
        stem, dot, ext = name.rpartition(".")
        team = self.rng.choice(["Équipe données", "Zürich ops", "Ñandú team"])
        name = f"{stem} (copie){dot}{ext}" if stem else f"{name} (copie)"
        return self._unique(f"{head}/{team}/{name}")

    def renamed(self, old: str) -> str:
        """A new path for a moved file: another directory or another name, same extension."""
        parts = old.split("/")
        name = parts[-1]
        moves = [
            "/".join([*parts[:-1], "legacy", name]),
            "/".join(["archive", *parts]),
            "/".join(
                [*parts[:-1], self._mod() + ("." + name.rsplit(".", 1)[1] if "." in name else "")]
            ),
        ]
        return self._unique(self.rng.choice(moves))


# --------------------------------------------------------------------------- plants


@dataclass
class Plant:
    """A planted secret or decoy: one mark of corpus.py, introduced by one commit."""

    mark: cp.Mark
    scenario: str
    role: str  # "secret" | "decoy"
    branch: str = ""
    path: str = ""
    fmt: str = ""
    commit_mark: int = 0
    line: int = 0
    line_end: int = 0
    lines: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # {"event", "commit_mark", ...}
    group: list[str] = field(default_factory=list)  # ids rendered together (AWS id + key)

    @property
    def id(self) -> str:
        return self.mark.ident

    @property
    def value(self) -> str:
        return cp.joined(self.mark.value).rstrip("\n")


@dataclass
class Branch:
    name: str
    files: dict[str, FileState]
    kind: str  # "main" | "feature" | "experiment" | "hotfix"
    fork_mark: int | None = None
    fork_step: int = 0
    started: bool = False
    planned: int = 0
    made: int = 0
    touched: set[str] = field(default_factory=set)
    pending: list[tuple[int, str, str]] = field(default_factory=list)  # (due made, plant, action)


@dataclass
class Op:
    """One change of a commit: M (write), D (delete) or R (rename, then maybe M)."""

    verb: str
    path: str
    state: FileState | None = None
    old: str = ""


@dataclass
class Commit:
    branch: Branch
    message: str
    author: tuple[str, str]
    committer: tuple[str, str]
    ops: list[Op] = field(default_factory=list)
    merges: list[Branch] = field(default_factory=list)  # feature branches merged (2nd+ parents)
    introduced: list[str] = field(default_factory=list)  # plant ids


# --------------------------------------------------------------------------- the generator


class History:
    def __init__(self, seed: int, commits: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.total = commits
        self.paths = Paths(self.rng)
        self.step = 0
        self.time = EPOCH
        self.main = Branch(MAIN, {}, "main")
        self.features: list[Branch] = []
        self.experiment: Branch | None = None
        self.hotfix: Branch | None = None
        self.claims: dict[str, str] = {}  # path -> feature branch name holding it
        self.plants: dict[str, Plant] = {}
        self.tips: dict[str, int] = {}  # branch -> mark of its tip
        self.merged_features: list[str] = []
        self.tags: list[tuple[str, int, bool]] = []  # (name, mark, annotated)
        self.counter = {"secret": 0, "decoy": 0, "feature": 0}
        self.stats = {"merges": 0, "files_added": 0, "files_deleted": 0, "renames": 0, "edits": 0}
        self.queue: dict[str, list[tuple[int, str, Plant]]] = {
            "main": [],
            "feature": [],
            "merge": [],
            "octopus": [],
            "experiment": [],
            "hotfix": [],
        }
        self.followups: list[tuple[int, str, str]] = []  # (due step, plant id, action) on main
        self.kinds = self._kind_order(provider=False)
        self.provider_kinds = self._kind_order(provider=True)
        self._schedule()

    # ---- planning

    def _kind_order(self, *, provider: bool) -> Iterator[cp.Kind]:
        """Kinds in planting order: the must-haves first, then the others in seeded order;
        provider kinds only (those not among the must-haves first) when `provider`."""
        by_name = {k.name: k for k in cp.SECRET_KINDS}
        must = [by_name[n] for n in MUST_HAVE_KINDS if n in by_name]
        if provider:
            order = [
                by_name[n] for n in PROVIDER_KINDS if n in by_name and n not in MUST_HAVE_KINDS
            ]
            self.rng.shuffle(order)
            order += [k for k in must if k.name in PROVIDER_KINDS]
        else:
            order = [
                k for k in cp.SECRET_KINDS if k.name not in (*MUST_HAVE_KINDS, *PROVIDER_KINDS)
            ]
            self.rng.shuffle(order)
            order = must + order
        while True:
            yield from order

    def _new_mark(self, kind: cp.Kind) -> cp.Mark:
        self.counter[kind.role] += 1
        prefix = "s" if kind.role == "secret" else "d"
        return cp.Mark(
            f"{prefix}{self.counter[kind.role]:03d}",
            kind,
            kind.make(self.rng),
            self.rng.choice(kind.names),
        )

    def _plant(self, kind: cp.Kind, scenario: str) -> Plant:
        mark = self._new_mark(kind)
        plant = Plant(mark, scenario, kind.role)
        group = [plant]
        if kind.name == "aws-access-key-id":
            companion = self._new_mark(cp.AWS_SECRET)
            mark.companions.append(companion)
            group.append(Plant(companion, scenario, "secret"))
        for p in group:
            p.group = [g.id for g in group]
            self.plants[p.id] = p
        return plant

    def _next_kind(self, scenario: str, need_insert: bool) -> cp.Kind:
        kinds = self.kinds if scenario in DETECTION_SCENARIOS else self.provider_kinds
        for _ in range(200):
            kind = next(kinds)
            if not need_insert or set(kind.formats) & set(INSERTABLE):
                return kind
        raise AssertionError("no kind can be inserted into an existing file")

    def _schedule(self) -> None:
        """Spread the scenarios over the history: (due step, placement, plant) per queue."""
        n, r = self.total, self.rng
        # Windows (fractions of the history) where each branch kind exists.
        self.experiment_window = (int(0.30 * n), int(0.62 * n))
        self.hotfix_step = int(0.71 * n)
        needs_insert = {"removed", "renamed-edited"}
        queue_of = {
            "feature": "feature",
            "feature-removed": "feature",
            "merge": "merge",
            "octopus-merge": "octopus",
            "unmerged": "experiment",
            "tag-only": "hotfix",
        }
        window = {
            "experiment": (self.experiment_window[0] + 1, self.experiment_window[1] - 10),
            "hotfix": (self.hotfix_step, self.hotfix_step),
            "merge": (int(0.05 * n), int(0.85 * n)),
            "octopus": (int(0.40 * n), int(0.60 * n)),
            "feature": (int(0.04 * n), int(0.80 * n)),
            "main": (int(0.01 * n), int(0.80 * n)),
        }
        for scenario, count in SCENARIOS.items():
            if scenario in ("reused", "copied"):
                continue
            q = queue_of.get(scenario, "main")
            lo, hi = window[q]
            for i in range(count):
                due = int(lo + (hi - lo) * (i + r.random()) // count)
                plant = self._plant(self._next_kind(scenario, scenario in needs_insert), scenario)
                if scenario in needs_insert:
                    placement = "insert"
                elif scenario == "odd-path":
                    placement = "odd"
                else:
                    placement = r.choice(["insert", "new"])
                self.queue[q].append((due, placement, plant))
        for scenario, start in (("copied", 0.74), ("reused", 0.82)):
            for i in range(SCENARIOS[scenario]):  # the source is chosen when it is due
                due = int((start + 0.04 * i) * n)
                plant = self._plant(cp.AWS_SECRET, scenario)  # kind and value: the source's
                self.queue["main"].append((due, scenario, plant))
        decoy_kinds = list(cp.DECOY_KINDS)
        r.shuffle(decoy_kinds)
        for i in range(DECOYS):
            kind = decoy_kinds[i % len(decoy_kinds)]
            q = "feature" if i % 4 == 3 else "main"
            lo, hi = window[q]
            due = int(lo + (hi - lo) * (i + r.random()) // DECOYS)
            self.queue[q].append((due, r.choice(["insert", "new"]), self._plant(kind, "decoy")))
        for entries in self.queue.values():
            entries.sort(key=lambda e: e[0])

    # ---- helpers

    def _who(self) -> tuple[str, str]:
        return self.rng.choice(AUTHORS)

    def _message(self, path: str | None = None) -> str:
        r = self.rng
        noun, verb = r.choice(cp.NOUNS), r.choice(cp.VERBS)
        area = path.split("/")[0] if path else r.choice(cp.SERVICES)
        return r.choice(
            [
                f"{verb.capitalize()} {noun}s in {area}",
                f"Fix {noun} {verb} when the {r.choice(cp.ADJ)} flag is set",
                f"{area}: refactor {noun} handling",
                f"Add {r.choice(cp.ADJ)} {noun} support",
                f"Bump {noun} timeouts",
                f"Tidy {area} config",
            ]
        )

    def _editable(self, br: Branch, path: str) -> bool:
        """Whether `br` may change an existing path without a merge conflict."""
        holder = self.claims.get(path)
        if br.kind == "main":
            return holder is None
        if br.kind == "feature":
            if holder is not None:
                return holder == br.name
            # Unchanged on main since the fork (versions are shared until changed).
            return self.main.files.get(path) is br.files.get(path)
        return True

    def _touch(self, br: Branch, *paths: str) -> None:
        if br.kind == "feature":
            for p in paths:
                self.claims[p] = br.name
                br.touched.add(p)

    def _render_new(self, fmt: str, path: str, marks: list[cp.Mark]) -> FileState:
        return from_rendered(fmt, cp.render_file(self.rng, fmt, path, marks))

    def _add_file(self, br: Branch, c: Commit, fmt: str | None = None) -> str:
        fmt = fmt or self.rng.choices(list(FORMAT_WEIGHTS), list(FORMAT_WEIGHTS.values()))[0]
        path = self.paths.new(fmt)
        state = self._render_new(fmt, path, [])
        br.files[path] = state
        self._touch(br, path)
        c.ops.append(Op("M", path, state))
        self.stats["files_added"] += 1
        return path

    def _candidates(self, br: Branch, *, unplanted: bool = False) -> list[str]:
        # Sampled: checking every file of a big tree on every commit would be slow.
        names = list(br.files)
        sample = self.rng.sample(names, min(len(names), 24))
        return [
            p for p in sample if self._editable(br, p) and not (unplanted and br.files[p].planted())
        ]

    # ---- planting

    def _snippet(self, plant: Plant, fmt: str) -> tuple[list[str], list[str | None]]:
        rendered = cp.render_mark(self.rng, fmt, plant.mark)
        own = "~" + plant.id
        lines: list[tuple[str, str | None]] = [
            (t, m.ident if m is not None else own) for t, m in rendered
        ]
        if fmt == "rb" and any(t.startswith("config.") for t, _ in lines):
            lines = [
                ("Rails.application.configure do |config|", own),
                *[("  " + t, g) for t, g in lines],
                ("end", own),
            ]
        if fmt == "md":
            intro = self.rng.choice(["Example configuration:", "For local testing use:"])
            lines = [(intro, own), ("", own), *lines]
        ind = BOUNDARY_INDENT.get(fmt, "")
        lines = [(ind + t if t else t, g) for t, g in lines]
        if fmt in BOUNDARY_INDENT:
            lines.append(("", own))
        elif fmt in ("ini", "toml", "env", "props") and self.rng.random() < 0.5:
            lines.insert(0, ("", own))
        return [t for t, _ in lines], [g for _, g in lines]

    def _place(self, br: Branch, c: Commit, plant: Plant, placement: str) -> None:
        kind = plant.mark.kind
        if placement == "insert":
            fmts = set(kind.formats) & set(INSERTABLE)
            names = list(br.files)
            self.rng.shuffle(names)
            for path in names:
                fs = br.files[path]
                if fs.fmt not in fmts or not self._editable(br, path) or fs.planted():
                    continue
                at = snippet_position(self.rng, fs)
                if at is None:
                    continue
                lines, tags = self._snippet(plant, fs.fmt)
                self._write(br, c, path, insert(fs, at, lines, tags))
                self._introduced(br, c, plant, path, fs.fmt)
                return
            if plant.scenario in ("removed", "renamed-edited"):
                raise AssertionError(f"no file on {br.name} to insert {plant.id} ({kind.name})")
        fmt = self.rng.choice(kind.formats)
        path = self.paths.odd(fmt) if placement == "odd" else self.paths.new(fmt)
        state = self._render_new(fmt, path, [plant.mark])
        br.files[path] = state
        self._touch(br, path)
        c.ops.append(Op("M", path, state))
        self.stats["files_added"] += 1
        self._introduced(br, c, plant, path, fmt)

    def _introduced(self, br: Branch, c: Commit, plant: Plant, path: str, fmt: str) -> None:
        for pid in plant.group:
            p = self.plants[pid]
            p.branch, p.path, p.fmt, p.paths = br.name, path, fmt, [path]
            c.introduced.append(pid)

    def _write(self, br: Branch, c: Commit, path: str, state: FileState) -> None:
        br.files[path] = state
        self._touch(br, path)
        c.ops.append(Op("M", path, state))

    def _source(self, br: Branch, *, one_line: bool) -> Plant | None:
        """A "kept" provider secret on `br`, not yet the source of a reuse or copy."""
        used = {ev["of"] for p in self.plants.values() for ev in p.events if "of" in ev}
        sources = [
            p
            for p in self.plants.values()
            if p.role == "secret"
            and p.scenario == "kept"
            and p.mark.kind.name in PROVIDER_KINDS
            and p.commit_mark
            and len(p.group) == 1
            and not (one_line and "\n" in p.value)
            and p.paths[-1] in br.files
            and p.id not in used
        ]
        return self.rng.choice(sources) if sources else None

    def _reuse(self, br: Branch, c: Commit, plant: Plant) -> bool:
        """Paste the value of an earlier single-line secret of main into another file."""
        src = self._source(br, one_line=True)
        if src is None:
            return False
        kind = src.mark.kind
        plant.mark.kind = kind
        plant.mark.value = src.mark.value
        plant.mark.words = self.rng.choice(kind.names)
        plant.events.append({"event": "reuses", "of": src.id})
        self._place(br, c, plant, "insert" if set(kind.formats) & set(INSERTABLE) else "new")
        return True

    def _copy(self, br: Branch, c: Commit, plant: Plant) -> bool:
        """Copy the file holding an earlier secret, unchanged, to a new path: the new path
        holds the secret from this commit on, in a blob the history already has."""
        src = self._source(br, one_line=False)
        if src is None:
            return False
        plant.mark.kind, plant.mark.value, plant.mark.words = (
            src.mark.kind,
            src.mark.value,
            src.mark.words,
        )
        old = src.paths[-1]
        state = br.files[old]
        retag = {src.id: plant.id, "~" + src.id: "~" + plant.id}
        tags = tuple(None if t is None else retag.get(t, t) for t in state.tags)
        copy = FileState(state.fmt, state.lines, tags)
        new = self.paths.renamed(old)
        self._write(br, c, new, copy)
        self.stats["files_added"] += 1
        plant.events.append({"event": "copies", "of": src.id, "from": old})
        self._introduced(br, c, plant, new, state.fmt)
        return True

    # ---- follow-ups (delete, rename) of planted secrets

    def _followup(self, br: Branch, c: Commit, pid: str, action: str) -> bool:
        plant = self.plants[pid]
        path = plant.paths[-1]
        if path not in br.files or not self._editable(br, path):
            return False
        group = {g for g in plant.group}
        if action == "remove":
            self._write(br, c, path, remove_plant(br.files[path], group))
            event: dict[str, Any] = {"event": "removed", "path": path}
        elif action == "delete-file":
            del br.files[path]
            self._touch(br, path)
            c.ops.append(Op("D", path))
            self.stats["files_deleted"] += 1
            event = {"event": "file-deleted", "path": path}
        else:  # rename / rename-edit
            new = self.paths.renamed(path)
            state = br.files.pop(path)
            self._touch(br, path, new)
            c.ops.append(Op("R", new, old=path))
            if action == "rename-edit":
                state = edit(self.rng, state)
                c.ops.append(Op("M", new, state))
            br.files[new] = state
            self.stats["renames"] += 1
            event = {"event": "renamed", "from": path, "to": new}
            for g in group:
                self.plants[g].paths.append(new)
        for g in group:
            self.plants[g].events.append({**event, "branch": br.name, "commit_mark": self.step + 1})
        return True

    # ---- ordinary work

    def _work(self, br: Branch, c: Commit) -> None:
        r = self.rng
        n_ops = r.choices([1, 2, 3], [70, 20, 10])[0]
        for _ in range(n_ops):
            x = r.random()
            if x < 0.14 or len(br.files) < 30:
                path = self._add_file(br, c)
            elif x < 0.18:
                cands = self._candidates(br, unplanted=True)
                if not cands or len(br.files) < 60:
                    continue
                path = cands[0]
                del br.files[path]
                self._touch(br, path)
                c.ops.append(Op("D", path))
                self.stats["files_deleted"] += 1
            elif x < 0.22:
                cands = self._candidates(br, unplanted=True)
                if not cands:
                    continue
                path = cands[0]
                new = self.paths.renamed(path)
                state = br.files.pop(path)
                self._touch(br, path, new)
                c.ops.append(Op("R", new, old=path))
                if r.random() < 0.5:
                    state = edit(r, state)
                    c.ops.append(Op("M", new, state))
                br.files[new] = state
                self.stats["renames"] += 1
                path = new
            else:
                cands = [p for p in self._candidates(br) if br.files[p].fmt in FORMAT_WEIGHTS]
                if not cands:
                    continue
                path = cands[0]
                self._write(br, c, path, edit(r, br.files[path]))
                self.stats["edits"] += 1
            if not c.message:
                c.message = self._message(path)
        if not c.message:
            c.message = self._message()

    # ---- the timeline

    def _due(self, queue: str) -> bool:
        q = self.queue[queue]
        return bool(q) and q[0][0] <= self.step

    def _pop_due(self, queue: str) -> tuple[str, Plant] | None:
        q = self.queue[queue]
        if self._due(queue):
            _, placement, plant = q.pop(0)
            return placement, plant
        return None

    def _start_feature(self) -> Branch:
        self.counter["feature"] += 1
        r = self.rng
        name = f"feature/{r.choice(cp.VERBS)}-{r.choice(cp.NOUNS)}-{self.counter['feature']}"
        br = Branch(name, dict(self.main.files), "feature", self.tips[MAIN], self.step)
        br.planned = r.randint(2, 40)
        self.features.append(br)
        return br

    def _choose(self) -> tuple[Branch, list[Branch]]:
        """(branch the next commit goes on, feature branches it merges into main)."""
        r, n, s = self.rng, self.total, self.step
        if self.hotfix is not None and self.hotfix.made < self.hotfix.planned:
            return self.hotfix, []
        if s == self.hotfix_step and self.hotfix is None:
            self.hotfix = Branch("hotfix/urgent-payment-fix", dict(self.main.files), "hotfix")
            self.hotfix.fork_mark = self.tips[MAIN]
            self.hotfix.planned = 2 + SCENARIOS["tag-only"]
            return self.hotfix, []
        lo, hi = self.experiment_window
        if s == lo:
            self.experiment = Branch(
                "experiment/vault-migration", dict(self.main.files), "experiment"
            )
            self.experiment.fork_mark = self.tips[MAIN]
            return self.experiment, []
        if (
            self.experiment is not None
            and lo < s
            and (s < hi or self.queue["experiment"])
            and (r.random() < 0.04 or self._due("experiment"))
        ):
            return self.experiment, []
        # Close every feature branch before the end of the history.
        remaining = n - s
        if self.features and remaining <= 3 * len(self.features) + 2:
            oldest = self.features[0]
            return (oldest, []) if oldest.pending else (self.main, [oldest])
        if self._due("octopus"):
            ready = [b for b in self.features if b.started and not b.pending]
            if len(ready) >= 2:
                return self.main, ready[:2]
        for br in self.features:
            if br.made >= br.planned and not br.pending and br.started:
                return self.main, [br]
        wanted = self._due("feature") or self._due("octopus")
        if len(self.features) < 3 and s < n - 60 and (r.random() < 0.025 or wanted):
            return self._start_feature(), []
        if self.features and r.random() < 0.3:
            return r.choice(self.features), []
        return self.main, []

    def commits(self) -> Iterator[Commit]:
        while self.step < self.total:
            if self.step == 0:
                c = Commit(self.main, "Initial import", self._who(), self._who())
                for _ in range(40):
                    self._add_file(self.main, c)
            else:
                br, merged = self._choose()
                c = self._commit_on(br, merged)
            yield c
            self.step += 1
        leftovers = {q: len(v) for q, v in self.queue.items() if v}
        if leftovers or self.followups or self.features:
            raise AssertionError(
                f"history too short for its scenarios ({self.total} commits): "
                f"unplanted {leftovers}, follow-ups {len(self.followups)}, "
                f"open features {len(self.features)}; use more --commits"
            )

    def _commit_on(self, br: Branch, merged: list[Branch]) -> Commit:
        author = self._who()
        if merged:
            return self._merge(merged)
        c = Commit(br, "", author, author)
        queue = {"main": "main", "feature": "feature", "experiment": "experiment"}.get(br.kind)
        if br.kind == "hotfix":
            queue = "hotfix" if br.made >= 1 else None
        due = self._pop_due(queue) if queue else None
        if due is not None:
            placement, plant = due
            if placement in ("reused", "copied"):
                made = (self._reuse if placement == "reused" else self._copy)(br, c, plant)
                if not made:
                    self.queue["main"].insert(0, (self.step + 1, placement, plant))
            else:
                self._place(br, c, plant, placement)
                self._schedule_followup(br, plant)
            c.message = self._message(plant.path or None)
        if br.kind == "main":
            for entry in list(self.followups):
                if entry[0] <= self.step and self._followup(br, c, entry[1], entry[2]):
                    self.followups.remove(entry)
                    break
        for entry in list(br.pending):
            if entry[0] <= br.made and self._followup(br, c, entry[1], entry[2]):
                br.pending.remove(entry)
        if not c.ops or self.rng.random() < 0.5:
            self._work(br, c)
        br.made += 1
        return c

    def _schedule_followup(self, br: Branch, plant: Plant) -> None:
        action = {
            "removed": "remove",
            "file-deleted": "delete-file",
            "renamed": "rename",
            "renamed-edited": "rename-edit",
        }.get(plant.scenario)
        if action is not None:
            due = self.step + self.rng.randint(30, max(40, self.total // 12))
            self.followups.append((min(due, int(0.93 * self.total)), plant.id, action))
        if plant.scenario == "feature-removed":
            br.pending.append((br.made + self.rng.randint(1, 3), plant.id, "remove"))
            br.planned = max(br.planned, br.made + 5)

    def _merge(self, features: list[Branch]) -> Commit:
        """Merge feature branches into main: main's tree plus each branch's changes (they are
        disjoint: see `_editable`)."""
        main = self.main
        names = " and ".join(f"'{f.name}'" for f in features)
        message = f"Merge branch{'es' if len(features) > 1 else ''} {names}"
        c = Commit(main, message, self._who(), RELEASE_BOT, merges=list(features))
        for feature in features:
            for path in sorted(feature.touched):
                if path in feature.files:
                    state = feature.files[path]
                    if main.files.get(path) is not state:
                        main.files[path] = state
                        c.ops.append(Op("M", path, state))
                elif path in main.files:
                    del main.files[path]
                    c.ops.append(Op("D", path))
            for path in feature.touched:
                if self.claims.get(path) == feature.name:
                    del self.claims[path]
            self.features.remove(feature)
            self.merged_features.append(feature.name)
        self.stats["merges"] += 1
        due = self._pop_due("octopus" if len(features) > 1 else "merge")
        if due is not None:  # a change of the merge commit's own: in neither parent
            placement, plant = due
            self._place(main, c, plant, placement)
        return c

    # ---- fast-import

    def stream(self, out: IO[bytes]) -> None:
        for c in self.commits():
            mark = self.step + 1
            self.time += self.rng.randint(60, 5400)
            br = c.branch
            lines = [
                f"commit refs/heads/{br.name}",
                f"mark :{mark}",
                f"author {c.author[0]} <{c.author[1]}> {self.time} +0000",
                f"committer {c.committer[0]} <{c.committer[1]}> {self.time} +0000",
            ]
            msg = (c.message + "\n").encode()
            out.write(("\n".join(lines) + f"\ndata {len(msg)}\n").encode() + msg)
            if not br.started and br.fork_mark is not None:
                out.write(f"from :{br.fork_mark}\n".encode())
            br.started = True
            for merged in c.merges:
                out.write(f"merge :{self.tips[merged.name]}\n".encode())
            for op in c.ops:
                if op.verb == "D":
                    out.write(f"D {fi_path(op.path)}\n".encode())
                elif op.verb == "R":
                    out.write(f"R {fi_path(op.old)} {fi_path(op.path)}\n".encode())
                else:
                    assert op.state is not None
                    data = op.state.data()
                    out.write(f"M 100644 inline {fi_path(op.path)}\ndata {len(data)}\n".encode())
                    out.write(data + b"\n")
            out.write(b"\n")
            self.tips[br.name] = mark
            for pid in c.introduced:
                self._record(pid, br, mark)
            releases = sum(1 for _, _, annotated in self.tags if not annotated)
            if br.kind == "main" and self.step >= self.total * (releases + 1) // 8 and releases < 7:
                self.tags.append((f"v1.{releases}.0", mark, False))
            if br.kind == "hotfix" and br.made == br.planned:
                self.tags.append(("v3.2.1-hotfix", mark, True))
        for name, mark, annotated in self.tags:
            if annotated:
                msg = f"Hotfix release {name}\n".encode()
                out.write(
                    (
                        f"tag {name}\nfrom :{mark}\n"
                        f"tagger {RELEASE_BOT[0]} <{RELEASE_BOT[1]}> {self.time} +0000\n"
                        f"data {len(msg)}\n"
                    ).encode()
                    + msg
                    + b"\n"
                )
            else:
                out.write(f"reset refs/tags/{name}\nfrom :{mark}\n\n".encode())
        out.write(b"done\n")

    def _record(self, pid: str, br: Branch, mark: int) -> None:
        plant = self.plants[pid]
        fs = br.files[plant.path]
        rows = [i for i, t in enumerate(fs.tags) if t == pid]
        if not rows:
            raise AssertionError(f"{pid} ({plant.mark.kind.name}) lost in {plant.path}")
        plant.commit_mark = mark
        plant.line, plant.line_end = rows[0] + 1, rows[-1] + 1
        plant.lines = [fs.lines[i].strip() for i in rows]


# --------------------------------------------------------------------------- driver


def fi_path(path: str) -> str:
    """A path for a fast-import command: C-style quoted when it has spaces or quotes."""
    if not any(ch in path for ch in ' "\\\n'):
        return path
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def git(repo: Path, *args: str, input_: bytes | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], input=input_, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode()


def generator_digest() -> str:
    """Identifies the generator's code: a changed generator regenerates benchmark repos."""
    h = hashlib.sha256()
    for name in ("history.py", "corpus.py"):
        h.update((BENCH / name).read_bytes())
    return h.hexdigest()[:16]


def manifest_path(outdir: Path) -> Path:
    return outdir.parent / f"{outdir.name}.manifest.json"


def build(outdir: Path, commits: int, seed: int) -> dict[str, Any]:
    if commits < MIN_COMMITS:
        raise ValueError(f"--commits must be at least {MIN_COMMITS}")
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "init", "-q", "--bare", "--initial-branch", MAIN, str(outdir)], check=True
    )
    history = History(seed, commits)
    marks_file = outdir / "fast-import.marks"
    proc = subprocess.Popen(
        [
            "git",
            "-C",
            str(outdir),
            "fast-import",
            "--quiet",
            "--done",
            f"--export-marks={marks_file}",
        ],
        stdin=subprocess.PIPE,
    )
    assert proc.stdin is not None
    try:
        history.stream(proc.stdin)
    finally:
        proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    shas = {}
    for line in marks_file.read_text().splitlines():
        mark, sha = line.split()
        shas[int(mark[1:])] = sha
    marks_file.unlink()

    # Merged feature branches are mostly deleted, as on a real server; the hotfix branch too,
    # so its commits are reachable only from the tag.
    kept = set(history.merged_features[-6:])
    doomed = [f"refs/heads/{n}" for n in history.merged_features if n not in kept]
    if history.hotfix is not None:
        doomed.append(f"refs/heads/{history.hotfix.name}")
    git(outdir, "update-ref", "--stdin", input_="".join(f"delete {r}\n" for r in doomed).encode())
    git(outdir, "gc", "-q", "--prune=now")

    refs = dict(
        line.split(" ", 1)[::-1]
        for line in git(outdir, "for-each-ref", "--format=%(objectname) %(refname)").splitlines()
    )
    reachable = set(git(outdir, "rev-list", "--all").split())
    types = git(outdir, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype)").split()

    def entry(p: Plant) -> dict[str, Any]:
        events = []
        for ev in p.events:
            ev = dict(ev)
            if "commit_mark" in ev:
                ev["commit"] = shas[ev.pop("commit_mark")]
            events.append(ev)
        return {
            "id": p.id,
            "kind": p.mark.kind.name,
            "scenario": p.scenario,
            "branch": p.branch,
            "format": p.fmt,
            "path": p.path,
            "line": p.line,
            "line_end": p.line_end,
            "commit": shas[p.commit_mark],
            "paths": p.paths,
            "lines": p.lines,
            "value": p.value,
            "events": events,
        }

    secrets = [entry(p) for p in history.plants.values() if p.role == "secret"]
    decoys = [entry(p) for p in history.plants.values() if p.role == "decoy"]
    for e in secrets + decoys:
        if e["commit"] not in reachable:
            raise AssertionError(f"{e['id']}: commit {e['commit']} is not reachable from any ref")
    doc: dict[str, Any] = {
        "generator": "bench/history.py",
        "digest": generator_digest(),
        "seed": seed,
        "commits": commits,
        "repo": outdir.name,
        "refs": refs,
        "stats": {
            **history.stats,
            "commits": len(reachable),
            "branches": sum(r.startswith("refs/heads/") for r in refs),
            "tags": sum(r.startswith("refs/tags/") for r in refs),
            "feature_branches": history.counter["feature"],
            "paths_ever": len(history.paths.used),
            "files_at_head": len(history.main.files),
            "blobs": types.count("blob"),
            "objects": len(types),
        },
        "secret_kinds": sorted({e["kind"] for e in secrets}),
        "decoy_kinds": sorted({e["kind"] for e in decoys}),
        "secrets": secrets,
        "decoys": decoys,
    }
    check(outdir, doc)
    manifest_path(outdir).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return doc


def read_blobs(repo: Path, specs: Sequence[str]) -> dict[str, bytes | None]:
    """Contents of `rev:path` specs through one `git cat-file --batch` (None: missing)."""
    proc = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        input="".join(s + "\n" for s in specs).encode(),
        capture_output=True,
        check=True,
    )
    out: dict[str, bytes | None] = {}
    data, pos = proc.stdout, 0
    for spec in specs:
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        pos = end + 1
        if len(header) != 3:
            out[spec] = None
            continue
        size = int(header[2])
        out[spec] = data[pos : pos + size] if header[1] == b"blob" else None
        pos += size + 1
    return out


def check(repo: Path, doc: dict[str, Any]) -> None:
    """Every planted item is at its lines in its commit, and in no parent of that commit."""
    entries = doc["secrets"] + doc["decoys"]
    commits = sorted({e["commit"] for e in entries})
    parents = {
        row.split()[0]: row.split()[1:]
        for row in git(repo, "rev-list", "--no-walk", "--parents", *commits).splitlines()
    }
    specs = [f"{c}:{e['path']}" for e in entries for c in [e["commit"], *parents[e["commit"]]]]
    blobs = read_blobs(repo, specs)
    for e in entries:
        blob = blobs[f"{e['commit']}:{e['path']}"]
        if blob is None:
            raise AssertionError(f"{e['id']}: {e['path']} missing in {e['commit']}")
        text = blob.decode().split("\n")
        if [x.strip() for x in text[e["line"] - 1 : e["line_end"]]] != e["lines"] and not set(
            e["lines"]
        ) <= {x.strip() for x in text[e["line"] - 1 : e["line_end"]]}:
            raise AssertionError(
                f"{e['id']}: not at lines {e['line']}-{e['line_end']} of {e['path']}"
            )
        for parent in parents[e["commit"]]:
            before = blobs[f"{parent}:{e['path']}"]
            if before is not None and e["lines"][0] in {
                x.strip() for x in before.decode().split("\n")
            }:
                raise AssertionError(f"{e['id']}: already in {parent}:{e['path']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("outdir", type=Path, help="repository to create (replaced if present)")
    parser.add_argument("--commits", type=int, default=DEFAULT_COMMITS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if args.commits < MIN_COMMITS:
        parser.error(f"--commits must be at least {MIN_COMMITS}")
    outdir: Path = args.outdir.resolve()
    doc = build(outdir, args.commits, args.seed)
    st = doc["stats"]
    print(
        f"history: {st['commits']} commits ({st['merges']} merges), {st['branches']} branches, "
        f"{st['tags']} tags, {st['paths_ever']} paths, {st['blobs']} blobs; "
        f"{len(doc['secrets'])} secrets ({len(doc['secret_kinds'])} kinds), "
        f"{len(doc['decoys'])} decoys -> {outdir}; manifest {manifest_path(outdir)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
