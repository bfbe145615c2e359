"""Images → programs: which local binaries stand in for a container image.

There is no container runtime here; an image name only chooses the directories whose programs
a container runs (they come first on its PATH, and an absolute command is looked up there by
its basename). An image that no rule covers fails the way an unpullable image does
(ErrImagePull), so nothing unexpected ever runs.

Built-in rules (an `--images` file can add rules in front of them, same shape, YAML or JSON):

    images:
      - repositories: [gcr.io/etcd-development/etcd]   # normalised like Docker does
        tagPattern: 'v?(?P<major>\\d+)\\.(?P<minor>\\d+)\\.\\d+(-\\d+)?'   # optional
        binDirs: ['{local}/bin/etcd-{major}.{minor}']  # {root} {local} {state} + named groups
        entrypoint: []                                  # the image's ENTRYPOINT
        cmd: [/usr/local/bin/etcd]                      # and CMD
        workingDir: /
        env: {}
    projectImages: [my.registry/etcd-operator]          # more names for this project's image
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ETCD_REPOSITORIES = ("gcr.io/etcd-development/etcd", "quay.io/coreos/etcd", "registry.k8s.io/etcd")
ETCD_TAG = r"v?(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)(-\d+)?"
BUSYBOX_REPOSITORIES = ("docker.io/library/busybox",)
PROJECT_REPOSITORIES = ("localhost/etcd-operator",)


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
            bin_dirs=("{state}/images/busybox/bin",),
            cmd=("sh",),
            missing_hint="install the host's busybox (apt-get install busybox)",
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
        rules.append(
            ImageRule(
                name=str(item.get("name") or f"config-{i}"),
                repositories=tuple(normalize_repository(r) for r in item["repositories"]),
                bin_dirs=tuple(str(d) for d in item["binDirs"]),
                tag_pattern=item.get("tagPattern"),
                entrypoint=tuple(str(c) for c in item.get("entrypoint") or ()),
                cmd=tuple(str(c) for c in item.get("cmd") or ()),
                working_dir=str(item.get("workingDir") or "/"),
                env={str(k): str(v) for k, v in (item.get("env") or {}).items()},
            )
        )
    return rules


class ImageTable:
    """Resolves image names against the rules; `dir_exists` is injectable for tests."""

    def __init__(
        self,
        rules: list[ImageRule],
        placeholders: Mapping[str, str],
        dir_exists: Callable[[Path], bool] = Path.is_dir,
    ):
        self.rules = rules
        self.placeholders = dict(placeholders)
        self.dir_exists = dir_exists

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
        if not image:
            raise ImagePullError("the container has no image")
        ref = parse_ref(image)
        for rule in self.rules:
            if ref.repository not in rule.repositories:
                continue
            values = dict(self.placeholders)
            if rule.tag_pattern:
                match = re.fullmatch(rule.tag_pattern, ref.tag)
                if not match:
                    raise ImagePullError(
                        f"{image}: tag {ref.tag!r} of {ref.repository} is not one the node"
                        f" agent maps (expected {rule.tag_pattern})"
                    )
                values.update({k: v for k, v in match.groupdict().items() if v is not None})
            dirs = tuple(Path(d.format(**values)) for d in rule.bin_dirs)
            for d in dirs:
                if not self.dir_exists(d):
                    what = (
                        f"{rule.name} {values['major']}.{values['minor']}"
                        if ("major" in values and "minor" in values)
                        else rule.name
                    )
                    hint = f"; {rule.missing_hint}" if rule.missing_hint else ""
                    raise ImagePullError(f"{image}: {what} is not available here (no {d}){hint}")
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
        raise ImagePullError(
            f"{image}: not in the node agent's image table (etcd, busybox and this project's"
            " image are; see hack/nodeagent/README.md to add one)"
        )
