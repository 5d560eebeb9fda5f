"""The escalation matrix and what a complaint is filed under: its route (department, contacts,
tiers, office hours) and the service levels of the settings (`ComplaintPolicy`). The worker
hands both to a new complaint at once (`ComplaintRules`), so they are fixed in its history.

`models.py` re-exports every name here: import from either.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, EmailStr, Field, StringConstraints, model_validator

from promptly.domain import text_patterns
from promptly.domain.calendar import BusinessCalendar, HourRange, OfficeHours, ScalableRules
from promptly.domain.common import Locale, Model, NonEmpty, Phone, PositiveDuration, in_seconds


class Severity(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


Category = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64)
]


DepartmentId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=text_patterns.DEPARTMENT_ID.regex)
]


class Contact(Model):
    name: NonEmpty
    email: EmailStr
    phone: Phone | None = None


class EscalationTiers(Model):
    """Times on the SLA clock (business time when the department keeps office hours).

    Unresolved at `supervisor_after` → the supervisor is told (level 1); at `breach_after`
    → SLA breached, the manager and the customer are told, and the customer is promised a
    new timeline `extension` later; each missed new timeline escalates once more.
    """

    supervisor_after: PositiveDuration = timedelta(hours=24)
    breach_after: PositiveDuration = timedelta(hours=48)
    extension: PositiveDuration = timedelta(hours=24)

    def message_terms(self) -> dict[str, int]:
        """The wait the customer's escalation notice states."""
        return in_seconds(escalated_after=self.supervisor_after)

    @model_validator(mode="after")
    def _supervisor_before_breach(self) -> EscalationTiers:
        if self.supervisor_after >= self.breach_after:
            raise ValueError(
                f"supervisor_after ({self.supervisor_after}) must be shorter than "
                f"breach_after ({self.breach_after})"
            )
        return self


class DepartmentSpec(Model):
    name: NonEmpty
    # The name customers read in their language, where it differs from `name`.
    names: dict[Locale, NonEmpty] = Field(default_factory=dict)
    owner: Contact
    manager: Contact
    business_hours: OfficeHours | None = None


ANY_ROUTE: Literal["*"] = "*"


def _one_of(*allowed: str) -> AfterValidator:
    """A string from `allowed`, refused with the same words pydantic uses for a Literal."""
    listed = ", ".join(f"'{value}'" for value in allowed[:-1]) + f" or '{allowed[-1]}'"

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"Input should be {listed}")
        return value

    return AfterValidator(check)


# `Severity` is the one list of severities: tier keys and route severities follow it.
TierKey = Annotated[str, _one_of("default", *Severity)]
RouteSeverity = Annotated[str, _one_of(ANY_ROUTE, *Severity)]


class RouteSpec(Model):
    """One line of the matrix: `*` matches any category or severity."""

    category: Category = ANY_ROUTE
    severity: RouteSeverity = ANY_ROUTE
    department: DepartmentId
    owner: Contact | None = None
    tiers: EscalationTiers | None = None


class EscalationMatrix(Model):
    """category × severity → department, owner, tiers. The most specific route wins
    (category before severity); a route with category and severity `*` is required."""

    departments: dict[DepartmentId, DepartmentSpec] = Field(min_length=1)
    # What a category is called in the customer's language (else its id is shown).
    categories: dict[Category, dict[Locale, NonEmpty]] = Field(default_factory=dict)
    tiers: dict[TierKey, EscalationTiers] = Field(default_factory=dict)
    routes: list[RouteSpec] = Field(min_length=1)


class ComplaintRoute(Model):
    """Where one complaint goes and under which tiers; fixed in its history at filing."""

    department: str
    department_name: str
    # The department's and the category's names in the customers' languages (the matrix's).
    department_names: dict[Locale, str] = Field(default_factory=dict)
    category_names: dict[Locale, str] = Field(default_factory=dict)
    owner: Contact
    manager: Contact
    tiers: EscalationTiers
    business_hours: BusinessCalendar | None = None
    rule: str = Field(description="the matrix route that matched, category/severity")
    office_timezone: str | None = Field(
        default=None,
        description="the office's zone, in which staff read times when the department keeps "
        "no office hours (absent on complaints filed before it: the customer's zone)",
    )

    def staff_timezone(self, customer_timezone: str) -> str:
        """The zone staff messages and the UI show this complaint's times in."""
        if self.business_hours is not None:
            return self.business_hours.timezone
        return self.office_timezone or customer_timezone


DEFAULT_ROOT_CAUSES = (
    "communication",
    "waiting_time",
    "billing_error",
    "staff_conduct",
    "treatment_quality",
    "scheduling",
    "facilities",
    "other",
)


class ComplaintPolicy(Model):
    """The complaint service levels that are not per department (settings)."""

    update_every: timedelta = timedelta(hours=24)
    verdict_within: timedelta = timedelta(hours=72)
    survey_after: timedelta = timedelta(hours=2)
    # After closing, the case stays open this long, so late updates get a clear answer.
    keep_open_after_close: timedelta = timedelta(hours=24)
    # The procedure's own limits in calendar hours: a department's office hours may make its
    # clock stricter, never looser (supervisor at 24h, breach at 48h, each new timeline 24h).
    sla_ceiling: EscalationTiers = Field(default_factory=EscalationTiers)
    # A hold ends on its own after this; the clock resumes and the customer is told.
    max_hold: timedelta = timedelta(hours=72)
    # The follow-up's feedback link stays answerable this long after it is sent.
    feedback_window: timedelta = timedelta(days=7)
    # Root causes staff may record at close (empty: any short text is refused).
    root_causes: list[str] = Field(default_factory=lambda: list(DEFAULT_ROOT_CAUSES))
    # The customer's quiet hours, on their own clock (the reminders' PROMPTLY_QUIET_HOURS_*):
    # the 24h update goes out before they begin, other news on a timer once they end
    # (quiet_hours.py). None on complaints filed before this rule, whose histories replay as
    # they ran, and in demos (clock-of-day rules do not compress).
    quiet_hours: HourRange | None = None


class ComplaintRules(ScalableRules):
    route: ComplaintRoute
    policy: ComplaintPolicy
