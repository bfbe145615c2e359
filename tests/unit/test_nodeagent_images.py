"""Image names → local programs."""

from pathlib import Path

import pytest
from nodeagent.images import (
    ImagePullError,
    ImageRule,
    ImageTable,
    builtin_rules,
    parse_ref,
    rules_from_config,
)

ROOT = Path("/checkout")
STATE = Path("/state")
BUILT = {ROOT / ".local/bin/etcd-3.6", ROOT / ".local/bin/etcd-3.7", ROOT / ".venv/bin"}


class FakeApplets:
    """Multi-call binaries that are installed: their applet dirs count as made."""

    def __init__(self, installed: set[Path]):
        self.installed = installed
        self.made: list[tuple[Path, Path]] = []

    def ensure(self, program: Path, bin_dir: Path) -> None:
        if program not in self.installed:
            raise FileNotFoundError(program)
        self.made.append((program, bin_dir))


def table(rules: list[ImageRule] | None = None, applets: FakeApplets | None = None) -> ImageTable:
    placeholders = {"root": str(ROOT), "local": str(ROOT / ".local"), "state": str(STATE)}
    fake = applets or FakeApplets({Path("/bin/busybox")})
    return ImageTable(
        rules or builtin_rules(),
        placeholders,
        dir_exists=lambda p: p in BUILT or any(p == made for _, made in fake.made),
        applets=fake,
    )


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
    applets = FakeApplets({Path("/bin/busybox")})
    bb = table(applets=applets).resolve("busybox:1.36")
    assert bb.bin_dirs == (STATE / "images/busybox/bin",) and bb.cmd == ("sh",)
    assert applets.made == [(Path("/bin/busybox"), STATE / "images/busybox/bin")]
    op = table().resolve("localhost/etcd-operator:dev")
    assert op.bin_dirs == (ROOT / ".venv/bin",) and op.entrypoint == ("etcd-operator",)
    assert op.working_dir == str(ROOT)


def test_busybox_resolved_at_each_pull_so_a_later_install_counts() -> None:
    applets = FakeApplets(set())
    images = table(applets=applets)
    with pytest.raises(ImagePullError, match=r"no /bin/busybox.*apt-get install busybox"):
        images.resolve("busybox")
    applets.installed.add(Path("/bin/busybox"))
    assert images.resolve("busybox").bin_dirs == (STATE / "images/busybox/bin",)


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


def test_config_multicall_rule_links_its_applets_first_on_path() -> None:
    extra = rules_from_config(
        {
            "images": [
                {
                    "name": "tools",
                    "repositories": ["example.com/tools"],
                    "multicall": "{root}/box",
                    "binDirs": ["{root}/.venv/bin"],
                }
            ]
        }
    )
    applets = FakeApplets({ROOT / "box"})
    resolved = table(extra, applets).resolve("example.com/tools:1")
    assert resolved.bin_dirs == (STATE / "images/tools/bin", ROOT / ".venv/bin")


def test_config_rule_name_must_be_a_plain_directory_name() -> None:
    with pytest.raises(ValueError, match="rule name"):
        rules_from_config({"images": [{"name": "../x", "repositories": ["a"]}]})
