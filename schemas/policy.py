"""The SLO policy file: targets per plan, objective and priority, and warning fractions.

The file is validated by the same pydantic models whose JSON Schema we export, and
every failure is reported as one ``PolicyError`` naming the file, the key path and
the problem, because a policy typo found at deploy time should take seconds to fix.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Final

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, WithJsonSchema,
                      field_validator, model_validator)
from pydantic_core import PydanticCustomError

from ticket_slo.schemas.calendar_spec import ALWAYS_ON_CALENDAR, CalendarSpec, HolidaySpec
from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.schemas.events import PRIORITIES, Priority
from ticket_slo.schemas.objective_spec import BUILT_IN_OBJECTIVES, OBJECTIVE_NAME_PATTERN, EventMatch, ObjectiveSpec
from ticket_slo.schemas.objectives import Objective

__all__ = [
    "ALWAYS_ON_CALENDAR",
    "CalendarSpec",
    "ContractPolicy",
    "DEFAULT_PLAN",
    "DEFAULT_POLICY_PATH",
    "DEFAULT_WARN_AT",
    "Duration",
    "ObjectiveTargets",
    "ObjectiveSpec",
    "PlanPolicy",
    "Policy",
    "PolicyError",
    "load_policy",
    "parse_duration",
    "yaml_line_of",
]

DEFAULT_PLAN: Final = "default"
DEFAULT_WARN_AT: Final[tuple[float, ...]] = (0.5, 0.75, 0.9)
DEFAULT_POLICY_PATH: Final[Path] = Path(__file__).with_name("default_policy.yaml")

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.ASCII)  # digits 0-9 only
_DURATION_HINT = "use 90s, 30m, 4h, 1h30m"
_UNIT_SECONDS = (86400, 3600, 60, 1)


def parse_duration(value: Any) -> int:
    """Whole seconds from an int or from ``90s``/``30m``/``4h``/``1h30m``/``1d``; must be > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PydanticCustomError(
            "duration_type", "{value} is not a duration ({hint})", {"value": repr(value), "hint": _DURATION_HINT}
        )
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.fullmatch(value.strip())
        if not value.strip() or match is None:
            raise PydanticCustomError(
                "duration_format", "{value} is not a duration ({hint})", {"value": repr(value), "hint": _DURATION_HINT}
            )
        seconds = sum(int(part) * unit for part, unit in zip(match.groups(), _UNIT_SECONDS) if part)
    if seconds <= 0:
        raise PydanticCustomError("duration_positive", "{value} must be a positive duration", {"value": repr(value)})
    return seconds


#: Seconds in the model; an int or a ``1h30m``-style string in the file.
Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "exclusiveMinimum": 0},
                {"type": "string", "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"},
            ],
            "description": "whole seconds, or a duration such as 90s, 30m, 4h, 1h30m, 1d",
        }
    ),
]

_Fraction = Annotated[float, Field(strict=True, gt=0.0, lt=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectiveTargets(_Strict):
    """One target per priority: all four are required so no ticket is left without one."""

    P1: Duration
    P2: Duration
    P3: Duration
    P4: Duration

    def seconds(self, priority: Priority) -> int:
        return int(getattr(self, priority))


#: An objective's name where the file defines or names one.
_ObjectiveName = Annotated[str, Field(pattern=OBJECTIVE_NAME_PATTERN)]


class PlanPolicy(_Strict):
    """Targets, warning fractions and the calendar (``24/7`` unless named) of one plan."""

    warn_at: tuple[_Fraction, ...] = DEFAULT_WARN_AT
    #: Targets per objective; an objective left out is not tracked for the plan's tickets.
    objectives: dict[_ObjectiveName, ObjectiveTargets] = {}
    calendar: Annotated[str, Field(min_length=1)] = ALWAYS_ON_CALENDAR

    @field_validator("warn_at", mode="after")
    @classmethod
    def _sorted_unique(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(sorted(set(value)))

    def targets(self, objective: Objective) -> ObjectiveTargets | None:
        return self.objectives.get(objective)


_Name = Annotated[str, Field(min_length=1, max_length=256)]


class ContractPolicy(_Strict):
    """A contract: the customers it covers get its plan (and account manager), whatever the
    ``plan`` field of their events says, because the helpdesk's field is often stale."""

    customers: Annotated[tuple[_Name, ...], Field(min_length=1)]
    plan: _Name
    account_manager: _Name | None = None


class Policy(_Strict):
    """All plans, their calendars and the customers' contracts; ``default`` is required and
    catches tickets on unknown plans."""

    plans: dict[Annotated[str, Field(min_length=1)], PlanPolicy]
    #: Objectives besides the built-in ``first_response``: when their clocks start, stop, pause.
    objectives: dict[_ObjectiveName, ObjectiveSpec] = {}
    calendars: dict[Annotated[str, Field(min_length=1)], CalendarSpec] = {}
    contracts: dict[_Name, ContractPolicy] = {}
    _plan_objectives: dict[str, tuple[str, ...]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _has_default(self) -> Policy:
        if DEFAULT_PLAN not in self.plans:
            known = ", ".join(sorted(self.plans)) or "none"
            raise PydanticCustomError(
                "default_plan_missing", "a 'default' plan is required (plans found: {known})", {"known": known}
            )
        return self

    @model_validator(mode="after")
    def _calendars_known(self) -> Policy:
        if ALWAYS_ON_CALENDAR in self.calendars:
            raise PydanticCustomError(
                "calendar_built_in", "{name} is built in and cannot be redefined", {"name": repr(ALWAYS_ON_CALENDAR)}
            )
        for name, plan in self.plans.items():
            if plan.calendar != ALWAYS_ON_CALENDAR and plan.calendar not in self.calendars:
                known = ", ".join([ALWAYS_ON_CALENDAR, *sorted(self.calendars)])
                raise PydanticCustomError(
                    "unknown_calendar", "unknown calendar {calendar} (known: {known})",
                    {"plan": name, "calendar": repr(plan.calendar), "known": known},
                )
        return self

    @model_validator(mode="after")
    def _objectives_known(self) -> Policy:
        for name in self.objectives:
            if name in BUILT_IN_OBJECTIVES:
                raise PydanticCustomError(
                    "objective_built_in", "{name} is built in and cannot be redefined", {"name": repr(name),
                                                                                         "key": name})
        known = self.objective_names()
        for plan_name, plan in self.plans.items():
            for name in plan.objectives:
                if name not in known:
                    raise PydanticCustomError(
                        "unknown_objective", "unknown objective {name} (known: {known})",
                        {"plan": plan_name, "name": repr(name), "known": ", ".join(known)},
                    )
            # In the file's order of definition: outputs of one event come in a stable order.
            self._plan_objectives[plan_name] = tuple(name for name in known if name in plan.objectives)
        return self

    def objective_names(self) -> tuple[str, ...]:
        """Every objective the policy knows: the built-in ones first, then those it defines."""
        return (*BUILT_IN_OBJECTIVES, *self.objectives)

    def objective_spec(self, name: str) -> ObjectiveSpec:
        """How the clock of objective ``name`` moves (a name the policy knows)."""
        built_in = BUILT_IN_OBJECTIVES.get(name)
        return built_in if built_in is not None else self.objectives[name]

    def plan_objectives(self, plan: str) -> tuple[str, ...]:
        """The objectives tracked for tickets on ``plan`` (``default``'s for an unknown plan)."""
        found = self._plan_objectives.get(plan)
        return found if found is not None else self._plan_objectives[DEFAULT_PLAN]

    @model_validator(mode="after")
    def _contracts_consistent(self) -> Policy:
        owner: dict[str, str] = {}
        for name, contract in self.contracts.items():
            if contract.plan not in self.plans:
                raise PydanticCustomError(
                    "contract_plan", "unknown plan {plan} (known: {known})",
                    {"contract": name, "plan": repr(contract.plan), "known": ", ".join(sorted(self.plans))},
                )
            for customer in contract.customers:
                if customer in owner:
                    raise PydanticCustomError(
                        "contract_customer_twice", "customer {customer} is already under contract {first}",
                        {"contract": name, "customer": repr(customer), "first": repr(owner[customer])},
                    )
                owner[customer] = name
        return self

    @cached_property
    def version(self) -> str:
        """A short hash of the policy's meaning (not its layout or comments): outputs name the
        version whose terms their clock was given, so a consumer can tell two policies apart."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]

    def contract_for(self, customer_id: str) -> tuple[str, ContractPolicy] | None:
        """The contract covering ``customer_id`` (its name and terms), or ``None``. A scan: the
        engine keeps its own map (``objective_clock.Terms``)."""
        for name, contract in self.contracts.items():
            if customer_id in contract.customers:
                return name, contract
        return None

    def calendar_spec(self, plan: str) -> CalendarSpec | None:
        """The calendar of ``plan`` (or of ``default``), or ``None`` for the built-in ``24/7``."""
        name = self.plan(plan).calendar
        return None if name == ALWAYS_ON_CALENDAR else self.calendars[name]

    def plan(self, name: str) -> PlanPolicy:
        """The plan called ``name``, or ``default`` when there is no such plan."""
        found = self.plans.get(name)
        return found if found is not None else self.plans[DEFAULT_PLAN]

    def knows_plan(self, name: str) -> bool:
        return name in self.plans

    def target_seconds(self, plan: str, objective: Objective, priority: Priority) -> float | None:
        """Target in seconds, or ``None`` when the plan has no such objective (not eligible)."""
        targets = self.plan(plan).targets(objective)
        return None if targets is None else float(targets.seconds(priority))

    def all_targets(self) -> set[float]:
        """Every target of every plan, objective and priority, in seconds (histogram bounds)."""
        found: set[float] = set()
        for name in self.plans:
            for objective in self.plan_objectives(name):
                for priority in PRIORITIES:
                    target = self.target_seconds(name, objective, priority)
                    if target is not None:
                        found.add(target)
        return found

    def all_warn_thresholds(self) -> set[float]:
        """Every warn_at fraction of every plan (the at-risk counter's threshold labels)."""
        return {fraction for name in self.plans for fraction in self.warn_at(name)}

    def warn_at(self, plan: str) -> tuple[float, ...]:
        return self.plan(plan).warn_at


class PolicyError(TicketSloError):
    """A policy file that cannot be used; the message names file, line, key path and problem."""

    label = "bad policy"

    def __init__(self, file: str | Path, key_path: str, problem: str, line: int | None = None) -> None:
        self.file = str(file)
        self.key_path = key_path
        self.problem = problem
        self.line = line
        where = f"{self.file}: line {line}" if line is not None else self.file
        super().__init__(f"{where}: {key_path}: {problem}")


class _PolicyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that leaves ``2026-12-24`` a string: pydantic then parses the date
    and reports an impossible one (``2026-02-30``) with its key and line, not as a crash."""


_PolicyLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_policy(path: str | Path = DEFAULT_POLICY_PATH) -> Policy:
    """Read and validate a YAML policy file (a ``yaml.SafeLoader``: no arbitrary objects)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise PolicyError(path, "(file)", f"cannot read: {reason}") from None
    try:
        document = yaml.load(text, Loader=_PolicyLoader)  # safe: a SafeLoader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
        problem = getattr(error, "problem", None) or str(error)
        raise PolicyError(path, where, f"not valid YAML: {problem}") from None
    if not isinstance(document, dict):
        raise PolicyError(path, "(top level)", f"expected a mapping with a 'plans' key, got {type(document).__name__}")
    try:
        return Policy.model_validate(document)
    except ValidationError as error:
        # An unknown key first: it is usually a typo, and it explains the key then missing.
        items = sorted(error.errors(include_url=False), key=lambda item: item["type"] != "extra_forbidden")
        loc = _loc_of(items[0])
        key_path, problem = _locate(items[0], loc)
        explained = _missing_beside(items[0], items[1:])
        if explained:
            problem += f"; {', '.join(explained)} {'is' if len(explained) == 1 else 'are'} missing"
        more = len(items) - 1 - len(explained)
        if more:
            problem += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise PolicyError(path, key_path, problem, yaml_line_of(text, loc)) from None


def _missing_beside(first: Any, others: list[Any]) -> list[str]:
    """Keys missing from the mapping that holds the unknown key ``first`` (P4 when P5 was written)."""
    if first["type"] != "extra_forbidden":
        return []
    parent = tuple(first["loc"][:-1])
    return [str(item["loc"][-1]) for item in others if item["type"] == "missing" and tuple(item["loc"][:-1]) == parent]


def yaml_line_of(text: str, loc: list[str]) -> int | None:
    """The 1-based line of the key at ``loc``, or of its deepest present parent key; None if unknown."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line: int | None = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((key, value) for key, value in node.value
                          if isinstance(key, yaml.ScalarNode) and key.value == part), None)
            if found is None:
                break
            line = found[0].start_mark.line + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


#: Errors raised by a whole-model check, and the key under that model they are about.
_MODEL_CHECK_KEYS: Final = {
    "calendar_day_twice": "hours",
    "calendar_no_hours": "hours",
    "calendar_subdivision": "subdivision",
    "calendar_built_in": "calendars",
}


def _loc_of(item: Any) -> list[str]:
    """The key path of an error as the file spells it: the key a model-wide check is about,
    not the model; a dictionary key's error at the key itself."""
    loc = [str(part) for part in item["loc"] if part != "[key]"]
    kind = item["type"]
    if kind == "unknown_calendar":
        return ["plans", str(item["ctx"]["plan"]), "calendar"]
    if kind == "objective_built_in":
        return ["objectives", str(item["ctx"]["key"])]
    if kind == "unknown_objective":
        return ["plans", str(item["ctx"]["plan"]), "objectives", str(item["ctx"]["name"]).strip("'")]
    if kind == "contract_plan":
        return ["contracts", str(item["ctx"]["contract"]), "plan"]
    if kind == "contract_customer_twice":
        return ["contracts", str(item["ctx"]["contract"]), "customers"]
    if kind in _MODEL_CHECK_KEYS:
        return [*loc, _MODEL_CHECK_KEYS[kind]] + (["24/7"] if kind == "calendar_built_in" else [])
    return loc


def _locate(item: Any, loc: list[str]) -> tuple[str, str]:
    """Key path and problem for the first validation error, in the file's own terms."""
    kind = item["type"]
    key_path = ".".join(loc) or "plans"
    if kind == "extra_forbidden":
        return key_path, _unknown_key(loc)
    if kind == "missing":
        if len(loc) >= 2 and loc[-1] in PRIORITIES:
            return key_path, f"missing (each objective needs {', '.join(PRIORITIES)})"
        return key_path, "required key is missing"
    if kind == "default_plan_missing":
        return "plans.default", item["msg"]
    if kind in ("greater_than", "less_than"):
        return key_path, f"{item['input']!r} is not a fraction strictly between 0 and 1"
    if kind == "string_pattern_mismatch" and "objectives" in loc:
        return key_path, (f"{item.get('input')!r} is not an objective name (lower-case letters, digits and _, "
                          "starting with a letter)")
    if kind in ("float_type", "float_parsing"):
        return key_path, f"{item['input']!r} is not a number"
    if kind.startswith(("duration_", "calendar_", "contract_", "objective_")) or kind in ("unknown_calendar",
                                                                                     "unknown_objective"):
        return key_path, item["msg"]
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type", "date_from_datetime_inexact"):
        return key_path, f"{item.get('input')!r} is not a date (write YYYY-MM-DD)"
    if kind in ("dict_type", "model_type"):
        return key_path, f"expected a mapping, got {_yaml_kind(item.get('input'))}"
    if kind in ("tuple_type", "list_type"):
        what = "working intervals" if "hours" in loc[:-1] else "dates" if loc[-1] in ("add", "remove") else "fractions"
        return key_path, f"expected a list of {what}, got {_yaml_kind(item.get('input'))}"
    return key_path, f"{item['msg']} (got {item.get('input')!r})"


def _unknown_key(loc: list[str]) -> str:
    """Name the unknown key and the keys allowed at that place."""
    name = loc[-1]
    depth = len(loc)
    if depth == 3 and loc[0] == "objectives":
        return f"unknown key {name!r} (known: {', '.join(ObjectiveSpec.model_fields)})"
    if depth == 4 and loc[0] == "objectives" and loc[2] in ObjectiveSpec.model_fields:
        return f"unknown key {name!r} (known: {', '.join(EventMatch.model_fields)})"
    if depth == 5 and loc[0] == "plans" and loc[2] == "objectives":
        return f"unknown priority {name!r} (known: {', '.join(PRIORITIES)})"
    if depth == 3 and loc[0] == "plans":
        return f"unknown key {name!r} (known: {', '.join(PlanPolicy.model_fields)})"
    if depth == 3 and loc[0] == "calendars":
        return f"unknown key {name!r} (known: {', '.join(CalendarSpec.model_fields)})"
    if depth == 4 and loc[0] == "calendars" and loc[2] == "holidays":
        return f"unknown key {name!r} (known: {', '.join(HolidaySpec.model_fields)})"
    if depth == 3 and loc[0] == "contracts":
        return f"unknown key {name!r} (known: {', '.join(ContractPolicy.model_fields)})"
    return f"unknown key {name!r} (known: {', '.join(Policy.model_fields)})"


def _yaml_kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)
