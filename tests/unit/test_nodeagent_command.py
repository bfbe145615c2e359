"""argv from command/args/image defaults, and which file gets executed."""

from pathlib import Path

import pytest
from nodeagent.command import CommandError, container_argv, container_path, resolve_program

FILES = {"/img/bin/etcd", "/img/bin/etcdctl", "/bin/sh", "/usr/bin/env", "/work/run.sh"}
DIRS = [Path("/img/bin")]


def exe(path: str) -> bool:
    return path in FILES


def test_command_replaces_entrypoint_and_args_replace_cmd() -> None:
    env = {"NAME": "m1"}
    assert container_argv({"command": ["a"], "args": ["--n=$(NAME)"]}, ["ep"], ["cmd"], env) == [
        "a",
        "--n=m1",
    ]
    assert container_argv({"command": ["a"]}, ["ep"], ["cmd"], env) == ["a"]
    assert container_argv({"args": ["x"]}, ["ep"], ["cmd"], env) == ["ep", "x"]
    assert container_argv({}, ["ep"], ["cmd"], env) == ["ep", "cmd"]
    assert container_argv({}, [], ["sh"], env) == ["sh"]
    with pytest.raises(CommandError):
        container_argv({}, [], [], env)


def test_absolute_command_runs_the_image_binary_of_that_name() -> None:
    assert resolve_program("/usr/local/bin/etcd", DIRS, "", is_executable=exe) == "/img/bin/etcd"


def test_absolute_command_not_in_the_image_runs_the_host_file() -> None:
    assert resolve_program("/bin/sh", DIRS, "", is_executable=exe) == "/bin/sh"
    with pytest.raises(CommandError, match="no such file"):
        resolve_program("/opt/nothing", DIRS, "", is_executable=exe)


def test_bare_names_follow_path() -> None:
    path = container_path(DIRS, "/usr/bin:/bin")
    assert path == "/img/bin:/usr/bin:/bin"
    assert resolve_program("etcdctl", DIRS, path, is_executable=exe) == "/img/bin/etcdctl"
    assert resolve_program("env", DIRS, path, is_executable=exe) == "/usr/bin/env"
    with pytest.raises(CommandError, match="not found in \\$PATH"):
        resolve_program("nope", DIRS, path, is_executable=exe)


def test_relative_command_is_relative_to_the_working_dir() -> None:
    assert resolve_program("./run.sh", DIRS, "", cwd="/work", is_executable=exe) == "/work/run.sh"


def test_container_path_has_no_duplicates() -> None:
    assert container_path(DIRS, "/img/bin:/bin::/bin") == "/img/bin:/bin"
