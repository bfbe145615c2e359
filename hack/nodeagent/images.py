"""Images → programs: which local binaries stand in for a container image.

There is no container runtime here; an image name only chooses the directories whose programs
a container runs (they come first on its PATH, and an absolute command is looked up there by
its basename). An image that no rule covers fails the way an unpullable image does
(ErrImagePull), so nothing unexpected ever runs.

The programs are looked up at every pull (each container start), never cached for the
agent's life: a bin dir that appears later, or a multi-call binary installed later, is used at
the next pull back-off.

Built-in rules (an `--images` file can add rules in front of them, same shape, YAML or JSON):

    images:
      - repositories: [gcr.io/etcd-development/etcd]   # normalised like Docker does
        name: etcd                                      # optional: letters, digits, . _ -
        tagPattern: 'v?(?P<major>\\d+)\\.(?P<minor>\\d+)\\.\\d+(-\\d+)?'   # optional
        binDirs: ['{local}/bin/etcd-{major}.{minor}']  # {root} {local} {state} + named groups
        entrypoint: []                                  # the image's ENTRYPOINT
        cmd: [/usr/local/bin/etcd]                      # and CMD
        workingDir: /
        env: {}
      - repositories: [docker.io/library/busybox]
        name: busybox
        multicall: /bin/busybox   # a busybox-style binary: its applets (`--list`) are linked
        cmd: [sh]                 # into {state}/images/<name>/bin, first on PATH
    projectImages: [my.registry/etcd-operator]          # more names for this project's image
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from nodeagent.applets import AppletLinks
from nodeagent.config import StatePaths

ETCD_REPOSITORIES = ("gcr.io/etcd-development/etcd", "quay.io/coreos/etcd", "registry.k8s.io/etcd")
ETCD_TAG = r"v?(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)(-\d+)?"
BUSYBOX_REPOSITORIES = ("docker.io/library/busybox",)
PROJECT_REPOSITORIES = ("localhost/etcd-operator",)
RULE_NAME = re.compile(r"[A-Za-z0-9._-]+")  # it names a directory under {state}/images


class ImagePullError(Exception):
    """The image cannot be provided; the message says why (shown in the container status)."""


@dataclass(frozen=True)
class ImageRef:
    repository: str  # normalised: registry/path
    tag: str
    digest: str


@dataclass(frozen=True)
class ImageRule:
    name: str
    repositories: tuple[str, ...]
    bin_dirs: tuple[str, ...]
    tag_pattern: str | None = None
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = "/"
    env: Mapping[str, str] = field(default_factory=dict)
    multicall: str | None = None  # a busybox-style binary whose applets are the programs
    missing_hint: str = ""


@dataclass(frozen=True)
class ResolvedImage:
    image: str
    ref: ImageRef
    rule: str
    bin_dirs: tuple[Path, ...]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    working_dir: str
    env: Mapping[str, str]

    @property
    def image_id(self) -> str:
        """Stable per program set, in the `repo@sha256:...` shape a kubelet reports."""
        seed = "\0".join([self.rule, *map(str, self.bin_dirs)])
        return f"{self.ref.repository}@sha256:{hashlib.sha256(seed.encode()).hexdigest()}"


def parse_ref(image: str) -> ImageRef:
    """Splits `[registry/]path[:tag][@digest]` and normalises Docker Hub names."""
    name, _, digest = image.partition("@")
    tag = ""
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    if not tag and not digest:
        tag = "latest"
    return ImageRef(normalize_repository(name), tag, digest)


def normalize_repository(name: str) -> str:
    parts = name.split("/")
    first = parts[0]
    has_registry = len(parts) > 1 and ("." in first or ":" in first or first == "localhost")
    if not has_registry:
        parts = ["docker.io", *parts]
    elif first == "index.docker.io":
        parts[0] = "docker.io"
    if parts[0] == "docker.io" and len(parts) == 2:
        parts.insert(1, "library")
    return "/".join(parts).lower()


def builtin_rules() -> list[ImageRule]:
    return [
        ImageRule(
            name="etcd",
            repositories=ETCD_REPOSITORIES,
            tag_pattern=ETCD_TAG,
            bin_dirs=("{local}/bin/etcd-{major}.{minor}",),
            cmd=("/usr/local/bin/etcd",),
            missing_hint="add the version to ETCD_VERSIONS in hack/versions.env and run make tools",
        ),
        ImageRule(
            name="busybox",
            repositories=BUSYBOX_REPOSITORIES,
            bin_dirs=(),
            multicall="/bin/busybox",
            cmd=("sh",),
            missing_hint="install the host's busybox: apt-get install busybox (make cluster-up"
            " installs hack/packages.txt)",
        ),
        ImageRule(
            name="etcd-operator",
            repositories=PROJECT_REPOSITORIES,
            bin_dirs=("{root}/.venv/bin",),
            entrypoint=("etcd-operator",),
            working_dir="{root}",
            missing_hint="run make venv",
        ),
    ]


def rules_from_config(data: Mapping[str, Any]) -> list[ImageRule]:
    """Rules from a parsed `--images` file, in file order."""
    rules = []
    for i, item in enumerate(data.get("images") or []):
        name = str(item.get("name") or f"config-{i}")
        if not RULE_NAME.fullmatch(name):
            raise ValueError(f"image rule name {name!r}: only letters, digits, '.', '_', '-'")
        rules.append(
            ImageRule(
                name=name,
                repositories=tuple(normalize_repository(r) for r in item["repositories"]),
                bin_dirs=tuple(str(d) for d in item.get("binDirs") or ()),
                multicall=item.get("multicall"),
                tag_pattern=item.get("tagPattern"),
                entrypoint=tuple(str(c) for c in item.get("entrypoint") or ()),
                cmd=tuple(str(c) for c in item.get("cmd") or ()),
                working_dir=str(item.get("workingDir") or "/"),
                env={str(k): str(v) for k, v in (item.get("env") or {}).items()},
            )
        )
    return rules


class Applets(Protocol):
    def ensure(self, program: Path, bin_dir: Path) -> None: ...


class ImageTable:
    """Resolves image names against the rules; the file system checks are injectable for tests."""

    def __init__(
        self,
        rules: list[ImageRule],
        placeholders: Mapping[str, str],
        dir_exists: Callable[[Path], bool] = Path.is_dir,
        applets: Applets | None = None,
    ):
        self.rules = rules
        self.placeholders = dict(placeholders)
        self.dir_exists = dir_exists
        self.applets = applets or AppletLinks()

    @classmethod
    def load(cls, root: Path, state: Path, config_file: Path | None = None) -> ImageTable:
        rules = builtin_rules()
        if config_file is not None:
            data = yaml.safe_load(config_file.read_text()) or {}
            extra = tuple(normalize_repository(r) for r in data.get("projectImages") or ())
            rules = [
                ImageRule(**{**r.__dict__, "repositories": r.repositories + extra})
                if r.name == "etcd-operator"
                else r
                for r in rules
            ]
            rules = rules_from_config(data) + rules
        placeholders = {"root": str(root), "local": str(root / ".local"), "state": str(state)}
        return cls(rules, placeholders)

    def resolve(self, image: str) -> ResolvedImage:
        """The image's programs as they are on disk now (called at every pull)."""
        if not image:
            raise ImagePullError("the container has no image")
        ref = parse_ref(image)
        rule = self._rule_for(image, ref)
        values = self._values(image, ref, rule)
        dirs = tuple(Path(d.format(**values)) for d in rule.bin_dirs)
        if rule.multicall:
            dirs = (self._link_applets(image, rule, values), *dirs)
        for d in dirs:
            if not self.dir_exists(d):
                raise self._missing(image, rule, values, d)
        return ResolvedImage(
            image=image,
            ref=ref,
            rule=rule.name,
            bin_dirs=dirs,
            entrypoint=rule.entrypoint,
            cmd=rule.cmd,
            working_dir=rule.working_dir.format(**values),
            env=rule.env,
        )

    def _rule_for(self, image: str, ref: ImageRef) -> ImageRule:
        for rule in self.rules:
            if ref.repository in rule.repositories:
                return rule
        raise ImagePullError(
            f"{image}: not in the node agent's image table (etcd, busybox and this project's"
            " image are; see hack/nodeagent/README.md to add one)"
        )

    def _values(self, image: str, ref: ImageRef, rule: ImageRule) -> dict[str, str]:
        """The placeholders, plus the named groups of the rule's tag pattern."""
        values = dict(self.placeholders)
        if rule.tag_pattern:
            match = re.fullmatch(rule.tag_pattern, ref.tag)
            if not match:
                raise ImagePullError(
                    f"{image}: tag {ref.tag!r} of {ref.repository} is not one the node"
                    f" agent maps (expected {rule.tag_pattern})"
                )
            values.update({k: v for k, v in match.groupdict().items() if v is not None})
        return values

    def _link_applets(self, image: str, rule: ImageRule, values: dict[str, str]) -> Path:
        assert rule.multicall is not None
        program = Path(rule.multicall.format(**values))
        bin_dir = StatePaths(Path(values["state"])).images / rule.name / "bin"
        try:
            self.applets.ensure(program, bin_dir)
        except FileNotFoundError:
            raise self._missing(image, rule, values, program) from None
        except (OSError, subprocess.SubprocessError) as exc:
            raise ImagePullError(f"{image}: cannot list the applets of {program}: {exc}") from exc
        return bin_dir

    @staticmethod
    def _missing(image: str, rule: ImageRule, values: dict[str, str], path: Path) -> ImagePullError:
        what = rule.name
        if "major" in values and "minor" in values:
            what += f" {values['major']}.{values['minor']}"
        hint = f"; {rule.missing_hint}" if rule.missing_hint else ""
        return ImagePullError(f"{image}: {what} is not available here (no {path}){hint}")
