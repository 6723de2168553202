"""Boundary values in the registry never raise: they become problems or valid values."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from reconciler.core.registry import validate_registry
from reconciler.core.timestamps import parse_timestamp
from tests.support.fleet import registry_doc

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

timestamps = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}{}".format,
    st.one_of(st.sampled_from([0, 1, 9999]), st.integers(0, 9999)),  # datetime's edges
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 24),
    st.integers(0, 60),
    st.integers(0, 60),
    st.sampled_from(["", ".5", ".123456789"]),
    st.sampled_from(["Z", "+00:00", "+01:00", "-01:00", "+23:59", "-23:59", "+24:00"]),
)
extreme_values = st.one_of(
    timestamps,
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)


@example("0001-01-01T00:00:00+01:00")  # an hour before datetime.min
@example("9999-12-31T23:59:59-01:00")  # an hour after datetime.max
@given(value=timestamps)
def test_any_timestamp_shaped_string_parses_or_is_rejected_without_raising(value: str) -> None:
    parsed = parse_timestamp(value)
    assert parsed is None or parsed.tzinfo is not None


@example(field="reviewBy", rollout_field="canaryPercent", value="0001-01-01T00:00:00+01:00",
         other=10**5000)  # fmt: skip
@given(
    field=st.sampled_from(["changedAt", "reviewBy", "actor"]),
    rollout_field=st.sampled_from(["canaryPercent", "pause"]),
    value=extreme_values,
    other=extreme_values,
)
def test_extreme_governance_and_rollout_values_give_problems_not_exceptions(
    field: str, rollout_field: str, value: object, other: object
) -> None:
    doc = copy.deepcopy(registry_doc())
    doc["policy"]["autonomous"]["governance"][field] = value
    doc["policy"]["autonomous"]["rollout"][rollout_field] = other
    problems = validate_registry(doc, NOW)
    assert all(isinstance(problem, str) and problem for problem in problems)
