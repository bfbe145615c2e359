"""Multi-call binaries (busybox): applet links made at pull time, re-listed only on change."""

from pathlib import Path

import pytest
from nodeagent.applets import AppletLinks, link_applets


def test_links_exactly_the_listed_applets(tmp_path: Path) -> None:
    program, bin_dir = tmp_path / "box", tmp_path / "bin"
    program.write_text("")
    link_applets(program, bin_dir, ["sh", "ls", "["])
    link_applets(program, bin_dir, ["sh", "cat"])
    assert sorted(p.name for p in bin_dir.iterdir()) == ["cat", "sh"]
    assert (bin_dir / "sh").readlink() == program


def test_relists_only_when_the_binary_changes(tmp_path: Path) -> None:
    program, bin_dir = tmp_path / "box", tmp_path / "bin"
    listed: list[Path] = []
    names = ["sh"]

    def list_names(p: Path) -> list[str]:
        listed.append(p)
        return list(names)

    links = AppletLinks(list_names)
    with pytest.raises(FileNotFoundError):  # not installed yet: the pull fails
        links.ensure(program, bin_dir)
    program.write_text("v1")  # installed later: the next pull links it
    links.ensure(program, bin_dir)
    links.ensure(program, bin_dir)
    assert len(listed) == 1 and (bin_dir / "sh").is_symlink()
    names.append("awk")
    program.write_text("version 2")  # upgraded: listed again
    links.ensure(program, bin_dir)
    assert len(listed) == 2 and (bin_dir / "awk").is_symlink()
