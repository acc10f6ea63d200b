"""Per-environment settings, read from cdk.json context in one place.

Constructs take these as explicit props; nothing else in infra/ asks "which environment?".
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from takedown_core.channels import RegistryError, routes
from takedown_core.likeness import LikenessConfigError, LikenessRules
from takedown_core.locations import LocationError, Locations
from takedown_core.notices import likeness_route_problems

from .settings import check as check_shape

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = ROOT / "cdk.json"
ENVIRONMENTS = ("dev", "staging", "prod")


class ConfigError(ValueError):
    """cdk.json does not describe a usable environment."""


@dataclass(frozen=True)
class EnvConfig:
    name: str
    raw: dict[str, Any]

    @property
    def region(self) -> str:
        return self.raw.get("region", "eu-west-1")

    @property
    def retain_data(self) -> bool:
        return self.raw.get("removal", "retain") == "retain"

    @property
    def partners(self) -> list[dict[str, Any]]:
        return self.raw["partners"]

    @property
    def reviewers(self) -> dict[str, Any]:
        return self.raw["reviewers"]

    @property
    def sender(self) -> str:
        return self.raw["sender"]

    @property
    def complainant(self) -> dict[str, Any]:
        return self.raw["complainant"]

    @property
    def platforms(self) -> dict[str, Any]:
        return self.raw["platforms"]

    @property
    def likeness(self) -> dict[str, Any]:
        """The metadata signal for deepfakes: {"artists": [{id, name, aliases}], "terms": {lang: [term]}}
        (takedown_core.likeness); {} when the environment has none (nothing is ever found)."""
        return self.raw.get("likeness") or {}

    @property
    def match(self) -> dict[str, Any]:
        return self.raw["match"]

    @property
    def review(self) -> dict[str, Any]:
        return self.raw["review"]

    @property
    def limits(self) -> dict[str, Any]:
        return self.raw["limits"]

    @property
    def notice(self) -> dict[str, Any]:
        return self.raw["notice"]

    @property
    def compliance(self) -> dict[str, Any]:
        """The check after a notice (takedown_core.compliance): ``compliance`` in cdk.json over
        48 h to check, 120 h to escalate, the HTTP checker, the rights desk told."""
        doc = {"check_after_hours": 48, "escalate_after_hours": 120, "checker": "http",
               "notify": self.rights_desk or self.reviewers.get("fallback")}
        return {**doc, **(self.raw.get("compliance") or {})}

    @property
    def gone_markers(self) -> dict[str, list[str]]:
        """Per platform, texts of the page it serves for removed content (``platforms.<p>.gone_markers``)."""
        return {p: list(doc.get("gone_markers") or []) for p, doc in self.platforms.items() if doc.get("gone_markers")}

    @property
    def counter_notice(self) -> dict[str, Any]:
        """The restoration clock (takedown_core.restoration) and who is told when a decision is
        due: ``counter_notice`` in cdk.json over US calendar, 10 / 14 business days, the rights
        desk (else the fallback reviewer)."""
        doc = {"country": "US", "after_business_days": 10, "by_business_days": 14,
               "notify": self.rights_desk or self.reviewers.get("fallback")}
        return {**doc, **(self.raw.get("counter_notice") or {})}

    @property
    def rights_desk(self) -> str | None:
        """The address that gets a copy of every notice sent (None: no copies)."""
        return self.raw.get("rights_desk") or None

    @property
    def api_secrets(self) -> list[str]:
        """The Secrets Manager names that sign notices to API platforms (platforms.<p>.api.secret)."""
        names = []
        for doc in self.platforms.values():
            for route in (doc, doc.get("likeness") or {}):
                if route.get("channel") == "api" and (route.get("api") or {}).get("secret"):
                    names.append(str(route["api"]["secret"]))
        return sorted(set(names))

    @property
    def log_retention_days(self) -> int:
        """Days CloudWatch Logs keeps every log group and the S3 access logs (``logs.retention_days``)."""
        return int((self.raw.get("logs") or {}).get("retention_days", 30))

    @property
    def alarm_email(self) -> str | None:
        return self.raw.get("alarm_email")


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def validate(cfg: EnvConfig) -> EnvConfig:
    """``cfg`` if its settings are usable, else ConfigError naming every problem with its key
    path: the shape first (settings.Environment, pydantic), then what the code that uses them
    checks (location rules, notice routes, likeness terms, relations between fields)."""
    shape = check_shape(cfg.name, cfg.raw)
    if shape:
        raise ConfigError(f"environment '{cfg.name}' in cdk.json:\n  " + "\n  ".join(shape))
    problems = []
    ids = [p.get("id", "") for p in cfg.partners]
    if not ids or any(not i or not i.replace("-", "").isalnum() for i in ids) or len(set(ids)) != len(ids):
        problems.append("partners: each needs a unique id of letters, digits and '-'")
    for p in cfg.partners:
        if p.get("default_platform") not in cfg.platforms:
            problems.append(f"partner {p.get('id')}: default_platform must be one of {sorted(cfg.platforms)}")
        template = p.get("location_template")
        if template is not None:
            try:
                sample = str(template).format(key="k", bucket="b")
            except (KeyError, IndexError, ValueError):
                sample = ""
            if not sample.startswith("https://"):
                problems.append(f"partner {p.get('id')}: location_template must be an https URL using only {{key}} "
                                "and {bucket}")
    try:
        Locations(cfg.platforms)
    except LocationError as e:
        problems.append(f"platforms: location rules: {e}")
    for name, plat in cfg.platforms.items():
        if plat.get("law") not in ("DMCA", "DSA"):
            problems.append(f"platform {name}: law must be DMCA or DSA")
        try:
            routes(name, plat)
        except RegistryError as e:
            problems.append(str(e))
        licensed = plat.get("licensed_uploaders", [])
        if not isinstance(licensed, list) or not all(isinstance(u, str) and u.strip() for u in licensed):
            problems.append(f"platform {name}: licensed_uploaders must be a list of uploader / channel names")
        if plat.get("likeness") is not None:  # the route for likeness complaints; without one, such a case fails at dispatch
            problems.extend(f"platform {name}: likeness: {p}" for p in likeness_route_problems(plat["likeness"]))
    try:
        LikenessRules.from_config(cfg.raw.get("likeness"))
    except LikenessConfigError as e:
        problems.extend(e.problems)
    comp = cfg.compliance
    if comp.get("checker") not in ("http", "none"):
        problems.append("compliance.checker: 'http' (check each URL) or 'none' (partners' re-reports only)")
    if not 0 < float(comp.get("check_after_hours", 0)) <= float(comp.get("escalate_after_hours", 0)):
        problems.append("compliance: 0 < check_after_hours <= escalate_after_hours")
    cn = cfg.counter_notice
    if not (isinstance(cn.get("after_business_days"), int) and isinstance(cn.get("by_business_days"), int)
            and 1 <= cn["after_business_days"] <= cn["by_business_days"]):
        problems.append("counter_notice: after_business_days and by_business_days must be whole numbers, 1 <= after <= by")
    desk = cfg.raw.get("rights_desk")
    if desk is not None and ("@" not in str(desk) or len(str(desk)) > 254):
        problems.append("rights_desk: an e-mail address for copies of every notice (or leave it out)")
    if not cfg.reviewers.get("allow") or not cfg.reviewers.get("fallback"):
        problems.append("reviewers: 'allow' (a list) and 'fallback' are required")
    r = cfg.review
    if not 0 < r["link_ttl_seconds"] <= r["wait_seconds"]:
        problems.append("review: link_ttl_seconds must be positive and no longer than wait_seconds")
    if not 0 < cfg.match["max_false_match_rate"] < 1:
        problems.append("match: max_false_match_rate must be between 0 and 1")
    spf = cfg.match.get("shards_per_function", 0)
    if not isinstance(spf, int) or isinstance(spf, bool) or spf < 0:
        problems.append("match: shards_per_function must be a whole number >= 0 (0: no fan-out)")
    days = (cfg.raw.get("logs") or {}).get("retention_days", 30)
    from .components import LOG_RETENTION

    if isinstance(days, bool) or days not in LOG_RETENTION:
        problems.append(f"logs.retention_days: one of CloudWatch Logs' periods in days ({', '.join(map(str, LOG_RETENTION))})")
    if problems:
        raise ConfigError(f"environment '{cfg.name}' in cdk.json: " + "; ".join(problems))
    return cfg


def load(env: str, *, context: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None) -> EnvConfig:
    """Settings for one environment: cdk.json context, then -c context, then overrides."""
    ctx = json.loads(CDK_JSON.read_text())["context"]
    if context:
        ctx = _deep_merge(ctx, context)
    envs = ctx.get("environments", {})
    if env not in envs:
        raise ConfigError(f"unknown environment '{env}': cdk.json defines {sorted(envs)}")
    raw = envs[env]
    if overrides:
        raw = _deep_merge(raw, overrides)
    return validate(EnvConfig(name=env, raw=raw))
