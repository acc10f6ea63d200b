"""The typed shape of one environment in cdk.json (``context.environments.<env>``), checked
with pydantic before synthesis.

Every section is a model that refuses keys it does not know (a misspelt ``licenced_uploaders``
would otherwise be ignored, and a label's own channel taken down) and fields of the wrong type
or range; :func:`check` turns pydantic's errors into one line per problem with the key's full
path, e.g. ``environments.prod.review.link_ttl_seconds: Input should be a valid integer
(got 'a day')``. What needs more than a shape (location rules, notice routes, likeness terms,
relations between fields) is checked after this by ``config.validate`` with the code that
uses it. The settings stay the plain dict of cdk.json for the constructs that read them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Text = str
PositiveInt = int


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Partner(_Section):
    id: Text = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")
    name: Text = Field(min_length=1)
    default_platform: Text
    location_template: Text | None = None
    principal: Text | None = None  # the partner's AWS account id or IAM ARN (cross-account writes to its bucket)


class Reviewers(_Section):
    allow: list[Text] = Field(min_length=1)
    fallback: Text = Field(min_length=3)
    # the one rule workflow.assign_reviewer implements: a stable hash of the catalogue owner (else
    # the artist) picks from ``allow``, so one owner's cases go to one person (cdk.json said
    # "round_robin", which nothing implemented)
    assignment: Literal["by_owner"] = "by_owner"


class Complainant(_Section):
    name: Text = Field(min_length=1)
    organisation: Text = Field(min_length=1)
    address: Text = Field(min_length=1)
    phone: Text | None = None
    email: Text = Field(min_length=3)
    signature: Text = Field(min_length=1)


class Api(_Section):
    secret: Text = Field(min_length=1)
    ticket_field: Text | None = None
    timeout_seconds: float = Field(default=10, gt=0, le=60)
    idempotency_key: Text | None = None


class RateLimit(_Section):
    notices: int = Field(ge=1)
    per_seconds: int = Field(ge=1)


class LikenessRoute(_Section):
    """Where a likeness (deepfake) complaint goes: by e-mail only (notices.likeness_route_problems
    checks the address, the law and the basis)."""
    channel: Literal["email"]
    address: Text = Field(min_length=1)
    law: Text
    basis: Text | None = None
    policy: Text | None = None


class Platform(_Section):
    name: Text = Field(min_length=1)
    law: Literal["DMCA", "DSA"]
    channel: Literal["email", "api", "manual"]
    address: Text = Field(min_length=1)
    jurisdiction: Text | None = None
    notice_types: list[Text] | None = None
    licensed_uploaders: list[Text] = []
    likeness: LikenessRoute | None = None
    location: dict[str, Any] | None = None  # checked by takedown_core.locations in config.validate
    api: Api | None = None
    rate_limit: RateLimit | None = None
    gone_markers: list[Text] = []


class Compliance(_Section):
    check_after_hours: float = Field(default=48, gt=0)
    escalate_after_hours: float = Field(default=120, gt=0)
    checker: Literal["http", "none"] = "http"
    notify: Text | None = None


class CounterNotice(_Section):
    country: Text = "US"
    subdivision: Text | None = None
    after_business_days: int = Field(default=10, ge=1)
    by_business_days: int = Field(default=14, ge=1)
    notify: Text | None = None


class Likeness(_Section):
    artists: list[dict[str, Any]] = []  # checked by takedown_core.likeness in config.validate
    terms: dict[str, list[Text]] = {}


class Match(_Section):
    max_false_match_rate: float = Field(gt=0, lt=1)
    stay_down_auto_approve: bool = False
    shards_per_function: int = Field(default=0, ge=0)


class Review(_Section):
    wait_seconds: int = Field(gt=0)
    link_ttl_seconds: int = Field(gt=0)
    reminders: int = Field(default=0, ge=0)
    escalations: int = Field(default=0, ge=0)
    digest_threshold: int = Field(default=0, ge=0)
    # reviewers hear our recording beside the upload: `catalog publish --references` fills the
    # reference bucket and the steps function may read it (False: no masters in this account)
    reference_audio: bool = False


class Limits(_Section):
    max_upload_mb: int = Field(gt=0, le=10_240)   # Lambda's /tmp holds at most 10,240 MB
    max_audio_seconds: int = Field(gt=0, le=6 * 3600)


class Notice(_Section):
    retry_attempts: int = Field(ge=0, le=20)
    retry_interval_seconds: int = Field(gt=0)


class Logs(_Section):
    retention_days: int = 30


class Environment(_Section):
    region: Text = Field(default="eu-west-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    removal: Literal["retain", "destroy"] = "retain"
    logs: Logs = Logs()
    partners: list[Partner] = Field(min_length=1)
    reviewers: Reviewers
    sender: Text = Field(min_length=3)
    rights_desk: Text | None = None
    compliance: Compliance | None = None
    counter_notice: CounterNotice | None = None
    complainant: Complainant
    platforms: dict[str, Platform] = Field(min_length=1)
    likeness: Likeness | None = None
    match: Match
    review: Review
    limits: Limits
    notice: Notice
    alarm_email: Text | None = None


def _value(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def check(env: str, raw: Any) -> list[str]:
    """The problems of environment ``env``'s settings ``raw``, one line each with the key's
    path from ``environments``; empty when the shape is right."""
    try:
        Environment.model_validate(raw)
    except ValidationError as e:
        out = []
        for err in e.errors():
            path = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"]).replace(".[", "[")
            where = f"environments.{env}" + (f".{path}" if path else "")
            got = "" if err["type"] in ("missing", "extra_forbidden") else f" (got {_value(err.get('input'))})"
            message = "unknown key: remove it or check its spelling" if err["type"] == "extra_forbidden" else err["msg"]
            out.append(f"{where}: {message}{got}")
        return out
    return []
