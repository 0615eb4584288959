"""Policy file: durations, defaults, fallbacks, and errors that name file, key path and problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_core import PydanticCustomError

from ticket_slo.schemas.policy import DEFAULT_POLICY_PATH, PolicyError, load_policy, parse_duration

TARGETS = "{P1: 30m, P2: 60m, P3: 4h, P4: 8h}"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> PolicyError:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}: ")
    return caught.value


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90), ("90s", 90), ("30m", 1800), ("4h", 14400), ("1h30m", 5400), ("1d", 86400), ("1d2h", 93600),
     ("2h0m5s", 7205)],
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["90x", "", "1.5h", "30 m", "m", "h1", "-5s", "٣h", 1.5, True, None, [30]])
def test_not_durations(text: object) -> None:
    with pytest.raises(PydanticCustomError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", [0, -5, "0s", "0h0m"])
def test_durations_must_be_positive(text: object) -> None:
    with pytest.raises(PydanticCustomError, match="must be a positive duration"):
        parse_duration(text)


def test_shipped_default_policy() -> None:
    assert DEFAULT_POLICY_PATH.name == "default_policy.yaml" and DEFAULT_POLICY_PATH.is_file()
    policy = load_policy()
    assert [policy.target_seconds("default", "first_response", p) for p in ("P1", "P2", "P3", "P4")] == [
        1800.0, 3600.0, 14400.0, 28800.0,
    ]
    assert policy.warn_at("default") == (0.5, 0.75, 0.9)


def test_plans_fallback_and_missing_objective(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, f"""
plans:
  default:
    objectives:
      first_response: {TARGETS}
  gold:
    warn_at: [0.9, 0.5, 0.5]
    objectives:
      first_response: {{P1: 90s, P2: 1h30m, P3: 1d, P4: 7200}}
  community: {{}}
"""))
    assert policy.target_seconds("gold", "first_response", "P2") == 5400.0
    assert policy.target_seconds("gold", "first_response", "P4") == 7200.0
    assert policy.warn_at("gold") == (0.5, 0.9)  # de-duplicated and sorted
    assert policy.warn_at("community") == (0.5, 0.75, 0.9)  # default when absent
    assert policy.target_seconds("community", "first_response", "P1") is None  # not eligible
    assert policy.target_seconds("no-such-plan", "first_response", "P3") == 14400.0  # default plan
    assert policy.knows_plan("gold") and not policy.knows_plan("no-such-plan")


def test_bad_duration_names_key_path(tmp_path: Path) -> None:
    error = error_of(tmp_path, f"""
plans:
  default:
    objectives:
      first_response: {TARGETS}
  gold:
    objectives:
      first_response: {{P1: 30m, P2: 90x, P3: 4h, P4: 8h}}
""")
    assert error.key_path == "plans.gold.objectives.first_response.P2"
    assert error.problem == "'90x' is not a duration (use 90s, 30m, 4h, 1h30m)"
    assert str(error).endswith(": plans.gold.objectives.first_response.P2: "
                               "'90x' is not a duration (use 90s, 30m, 4h, 1h30m)")


def test_zero_duration(tmp_path: Path) -> None:
    error = error_of(tmp_path, "plans:\n  default:\n    objectives:\n      first_response: {P1: 0, P2: 1h, P3: 4h, P4: 8h}\n")
    assert (error.key_path, error.problem) == ("plans.default.objectives.first_response.P1", "0 must be a positive duration")


def test_missing_priority(tmp_path: Path) -> None:
    error = error_of(tmp_path, "plans:\n  default:\n    objectives:\n      first_response: {P1: 30m, P3: 4h, P4: 8h}\n")
    assert (error.key_path, error.problem) == (
        "plans.default.objectives.first_response.P2", "missing (each objective needs P1, P2, P3, P4)",
    )


def test_unknown_priority(tmp_path: Path) -> None:
    error = error_of(tmp_path, f"plans:\n  default:\n    objectives:\n      first_response: {{P1: 1h, P2: 1h, P3: 4h, P4: 8h, P5: 1d}}\n")
    assert (error.key_path, error.problem) == (
        "plans.default.objectives.first_response.P5", "unknown priority 'P5' (known: P1, P2, P3, P4)",
    )


def test_unknown_objective_names_the_known_ones(tmp_path: Path) -> None:
    error = error_of(tmp_path, f"plans:\n  default:\n    objectives:\n      first_reply: {TARGETS}\n")
    assert (error.key_path, error.problem) == (
        "plans.default.objectives.first_reply", "unknown objective 'first_reply' (known: first_response)",
    )


def test_default_plan_is_required(tmp_path: Path) -> None:
    error = error_of(tmp_path, f"plans:\n  gold:\n    objectives:\n      first_response: {TARGETS}\n")
    assert (error.key_path, error.problem) == ("plans.default", "a 'default' plan is required (plans found: gold)")


@pytest.mark.parametrize(
    ("warn_at", "key", "problem"),
    [
        ("[0.5, 1.0]", "plans.default.warn_at.1", "1.0 is not a fraction strictly between 0 and 1"),
        ("[0]", "plans.default.warn_at.0", "0 is not a fraction strictly between 0 and 1"),
        ("[-0.5]", "plans.default.warn_at.0", "-0.5 is not a fraction strictly between 0 and 1"),
        ("[half]", "plans.default.warn_at.0", "'half' is not a number"),
        ("[true]", "plans.default.warn_at.0", "True is not a number"),
        ("0.5", "plans.default.warn_at", "expected a list of fractions, got 0.5"),
    ],
)
def test_bad_warn_at(tmp_path: Path, warn_at: str, key: str, problem: str) -> None:
    error = error_of(tmp_path, f"plans:\n  default:\n    warn_at: {warn_at}\n")
    assert (error.key_path, error.problem) == (key, problem)


def test_unknown_plan_key(tmp_path: Path) -> None:
    error = error_of(tmp_path, "plans:\n  default:\n    warnat: [0.5]\n")
    assert (error.key_path, error.problem) == ("plans.default.warnat", "unknown key 'warnat' (known: warn_at, objectives, calendar)")


def test_unknown_top_level_key_and_missing_plans(tmp_path: Path) -> None:
    error = error_of(tmp_path, "plans:\n  default: {}\nplan: 1\n")
    assert (error.key_path, error.problem) == ("plan", "unknown key 'plan' (known: plans, objectives, calendars, contracts)")
    error = error_of(tmp_path, "other: 1\n")
    # The unknown key comes first: it is most likely the missing one, misspelt.
    assert (error.key_path, error.problem) == ("other", "unknown key 'other' (known: plans, objectives, calendars, contracts); plans is missing")
    error = error_of(tmp_path, "{}\n")
    assert error.key_path == "plans" and error.problem.startswith("required key is missing")


def test_plan_that_is_not_a_mapping(tmp_path: Path) -> None:
    error = error_of(tmp_path, "plans:\n  default:\n")
    assert (error.key_path, error.problem) == ("plans.default", "expected a mapping, got nothing (null)")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, "plans:\n  default: [\n")
    assert error.key_path == "line 3, column 1"
    assert error.problem.startswith("not valid YAML: ")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    error = error_of(tmp_path, "- plans\n")
    assert (error.key_path, error.problem) == ("(top level)", "expected a mapping with a 'plans' key, got list")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.file == str(path)
    assert caught.value.problem.startswith("cannot read: ")


def test_several_problems_are_counted(tmp_path: Path) -> None:
    error = error_of(tmp_path, "plans:\n  default:\n    objectives:\n      first_response: {P1: 1x, P2: 2x, P3: 3x, P4: 4h}\n")
    assert error.problem == "'1x' is not a duration (use 90s, 30m, 4h, 1h30m) (and 2 more problems)"


def test_a_priority_written_instead_of_another_is_named_with_the_one_it_replaced(tmp_path: Path) -> None:
    """P5 instead of P4 used to be reported only as 'P4 missing'."""
    path = write(tmp_path, "plans:\n  default:\n    objectives:\n      first_response:\n"
                           "        P1: 1h\n        P2: 2h\n        P3: 4h\n        P5: 8h\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value) == (f"{path}: line 8: plans.default.objectives.first_response.P5: "
                                 "unknown priority 'P5' (known: P1, P2, P3, P4); P4 is missing")
    assert caught.value.line == 8


def test_a_missing_key_is_placed_at_the_line_of_the_mapping_that_lacks_it(tmp_path: Path) -> None:
    error = error_of(tmp_path, "plans:\n  default:\n    objectives:\n\n      first_response: {P1: 1h, P2: 2h, P4: 8h}\n")
    assert (error.line, error.key_path) == (5, "plans.default.objectives.first_response.P3")


def test_a_bad_list_item_is_placed_at_its_own_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, "plans:\n  default:\n    warn_at:\n      - 0.5\n      - 1.5\n")
    assert (error.line, error.key_path) == (5, "plans.default.warn_at.1")
