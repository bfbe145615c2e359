"""Image names → local programs."""

from pathlib import Path

import pytest
from nodeagent.images import ImagePullError, ImageTable, builtin_rules, parse_ref, rules_from_config

ROOT = Path("/checkout")
STATE = Path("/state")
BUILT = {
    ROOT / ".local/bin/etcd-3.6",
    ROOT / ".local/bin/etcd-3.7",
    STATE / "images/busybox/bin",
    ROOT / ".venv/bin",
}


def table(rules=None) -> ImageTable:
    placeholders = {"root": str(ROOT), "local": str(ROOT / ".local"), "state": str(STATE)}
    return ImageTable(rules or builtin_rules(), placeholders, dir_exists=lambda p: p in BUILT)


@pytest.mark.parametrize(
    ("image", "repo", "tag"),
    [
        ("busybox", "docker.io/library/busybox", "latest"),
        ("busybox:1.36", "docker.io/library/busybox", "1.36"),
        ("docker.io/library/busybox:1.36", "docker.io/library/busybox", "1.36"),
        ("docker.io/busybox", "docker.io/library/busybox", "latest"),
        ("library/busybox", "docker.io/library/busybox", "latest"),
        ("quay.io/coreos/etcd:v3.6.1", "quay.io/coreos/etcd", "v3.6.1"),
        ("localhost:5000/x/y:1", "localhost:5000/x/y", "1"),
        ("localhost/etcd-operator", "localhost/etcd-operator", "latest"),
    ],
)
def test_parse_ref(image: str, repo: str, tag: str) -> None:
    ref = parse_ref(image)
    assert (ref.repository, ref.tag) == (repo, tag)


def test_digest_kept_apart() -> None:
    ref = parse_ref("gcr.io/etcd-development/etcd:v3.6.0@sha256:abc")
    assert (ref.repository, ref.tag, ref.digest) == (
        "gcr.io/etcd-development/etcd",
        "v3.6.0",
        "sha256:abc",
    )


@pytest.mark.parametrize(
    "image",
    [
        "gcr.io/etcd-development/etcd:v3.6.16",
        "quay.io/coreos/etcd:v3.6.0",
        "registry.k8s.io/etcd:3.6.4-0",
        "registry.k8s.io/etcd:3.6.4",
    ],
)
def test_etcd_images_run_the_built_minor(image: str) -> None:
    resolved = table().resolve(image)
    assert resolved.bin_dirs == (ROOT / ".local/bin/etcd-3.6",)
    assert resolved.cmd == ("/usr/local/bin/etcd",)


def test_etcd_minor_not_built_is_a_pull_error() -> None:
    with pytest.raises(ImagePullError, match=r"etcd 3\.5 is not available"):
        table().resolve("quay.io/coreos/etcd:v3.5.9")


def test_etcd_unmappable_tag_is_a_pull_error() -> None:
    with pytest.raises(ImagePullError, match="tag 'latest'"):
        table().resolve("quay.io/coreos/etcd")


def test_busybox_and_project_images() -> None:
    bb = table().resolve("busybox:1.36")
    assert bb.bin_dirs == (STATE / "images/busybox/bin",) and bb.cmd == ("sh",)
    op = table().resolve("localhost/etcd-operator:dev")
    assert op.bin_dirs == (ROOT / ".venv/bin",) and op.entrypoint == ("etcd-operator",)
    assert op.working_dir == str(ROOT)


def test_unknown_image_is_never_run() -> None:
    with pytest.raises(ImagePullError, match="not in the node agent's image table"):
        table().resolve("nginx:1.25")


def test_image_id_is_stable_and_shaped_like_a_digest() -> None:
    a = table().resolve("busybox:1")
    b = table().resolve("busybox:2")
    assert a.image_id == b.image_id
    assert a.image_id.startswith("docker.io/library/busybox@sha256:")


def test_config_rules_come_first() -> None:
    extra = rules_from_config(
        {
            "images": [
                {"repositories": ["nginx"], "binDirs": ["{root}/.venv/bin"], "cmd": ["python"]}
            ]
        }
    )
    resolved = table(extra + builtin_rules()).resolve("nginx:1.25")
    assert resolved.bin_dirs == (ROOT / ".venv/bin",) and resolved.cmd == ("python",)
