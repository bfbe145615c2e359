"""Kubernetes' `$(VAR)` expansion for env values, command and args.

A port of k8s.io/kubernetes third_party/forked/golang/expansion: `$(NAME)` becomes the value of
NAME when it is defined and stays literally `$(NAME)` when not; `$$` is an escaped `$`; any
other `$` is kept as is, as is an unterminated `$(`.
"""

from __future__ import annotations

from collections.abc import Mapping


def expand(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_variable(text[cursor + 1 :])
            if is_var:
                out.append(env[read] if read in env else f"$({read})")
            else:
                out.append(read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def _read_variable(rest: str) -> tuple[str, bool, int]:
    """(text or name, is a variable name, characters consumed after the `$`)."""
    first = rest[0]
    if first == "$":
        return "$", False, 1
    if first == "(":
        close = rest.find(")", 1)
        if close != -1:
            return rest[1:close], True, close + 1
        return "$(", False, 1
    return "$" + first, False, 1


def expand_all(items: list[str], env: Mapping[str, str]) -> list[str]:
    return [expand(item, env) for item in items]
