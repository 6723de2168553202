"""Every reason code is documented for operators, and codes are stable snake_case."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.core.reasons import ReasonCode

DOC = (Path(__file__).parent.parent.parent / "docs" / "reason-codes.md").read_text()


@pytest.mark.parametrize("code", list(ReasonCode), ids=str)
def test_every_reason_code_is_documented(code: ReasonCode) -> None:
    assert f"| `{code}` |" in DOC


def test_the_docs_name_no_code_that_does_not_exist() -> None:
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", DOC, flags=re.MULTILINE))
    assert documented == {str(code) for code in ReasonCode}
