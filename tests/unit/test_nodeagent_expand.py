"""$(VAR) expansion as Kubernetes does it (cases from k8s' expansion tests)."""

import pytest
from nodeagent.expand import expand

ENV = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("$(VAR_A)", "A"),
        ("___$(VAR_B)___", "___B___"),
        ("$(VAR_A)-$(VAR_A)", "A-A"),
        ("$(VAR_A)$(VAR_B)$(VAR_C)", "ABC"),
        ("$(VAR_REF)", "$(VAR_A)"),  # not recursive
        ("$(VAR_EMPTY)", ""),
        ("$(UNDEFINED)", "$(UNDEFINED)"),
        ("$$(VAR_A)", "$(VAR_A)"),  # escaped
        ("$$$(VAR_A)", "$A"),
        ("$$$$(VAR_A)", "$$(VAR_A)"),
        ("$VAR_A", "$VAR_A"),
        ("$(VAR_A", "$(VAR_A"),  # unterminated
        ("$()", "$()"),
        ("foo$", "foo$"),
        ("$", "$"),
        ("", ""),
        ("no vars", "no vars"),
        ("--name=$(VAR_A) --x=$$HOME", "--name=A --x=$HOME"),
    ],
)
def test_expand(text: str, want: str) -> None:
    assert expand(text, ENV) == want
