"""`takedown partners ...`: a partner's setup checked end to end, its quarantines reported, and
the sidecar's JSON Schema (docs/partners.md is the partner's page).

    takedown partners check NAME [--stack S] [--timeout SECONDS]
    takedown partners report NAME [--since YYYY-MM-DD] [--format text|csv|json] [--stack S]
    takedown partners schema [--out FILE]

Target selection as for `takedown cases`: the running `takedown local up --expose-aws`, or
``--stack NAME`` for a deployed stack (its CloudFormation outputs name the landing buckets, the
ingest queue, the quarantine bucket and the cases table). The partner's expected principal is
its ``principal`` in cdk.json for the environment (``--env``; by default the local stack's, or
the one in a stack named ``Takedown-ENV-Takedown``).

Where a quarantine's reason is read from: the ingest copies each quarantined object to the
quarantine bucket under ``<landing bucket>/<key>`` with ``<key>.reason.json`` beside it
(reason code, detail, time), so one listing under the partner's prefix finds its quarantines
without scanning the cases table; each is then checked against the object's upload record
(``UPLOAD#<bucket>/<key>``), which also names the sidecar field at fault, and one that was
delivered again since and went through is left out.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from .cases_cli import TargetError, _guard, _target_session

CHECK_REF = "takedown-partners-check"     # the test upload's partner_ref and key prefix: it is a check
CHECK_SECONDS = 6                         # of real audio: long enough to decode and fingerprint
CHECK_TIMEOUT = 180                       # seconds to wait for the test upload's outcome
CHECK_ACTIONS = ("s3:PutObject",)         # what the partner needs at least (AbortMultipartUpload also granted)
STACK_NAME = re.compile(r"Takedown-([A-Za-z0-9]+)-Takedown")


@dataclass
class Target:
    """Where a partner's uploads go, on the local stack or a deployed one."""

    client: Callable[[str], Any]
    env: str
    table: str
    queue_url: str
    quarantine_bucket: str | None
    buckets: dict[str, str]          # partner id -> landing bucket


def _outputs_bucket(outputs: dict[str, str], pid: str) -> str | None:
    return outputs.get(f"LandingBucket{pid.replace('-', '')}")


def resolve(args: argparse.Namespace) -> Target:
    """The target of ``args`` (TargetError with one line when there is none)."""
    from takedown_infra.config import ConfigError, load

    client, table, outputs = _target_session(args)
    if args.stack:
        m = STACK_NAME.fullmatch(args.stack)
        env = args.env or (m.group(1) if m else None)
        if env is None:
            raise TargetError(f"cannot tell the environment of stack {args.stack}: give --env")
    else:
        from .cases_cli import local_state

        st = local_state()
        env = args.env or st.get("env") or "dev"
    try:
        config = load(env)
    except ConfigError as e:
        raise TargetError(str(e)) from None
    if args.stack:
        buckets = {p["id"]: b for p in config.partners if (b := _outputs_bucket(outputs, p["id"]))}
        quarantine = outputs.get("QuarantineBucket")
    else:
        buckets, quarantine = dict(st["partner_buckets"]), st.get("quarantine_bucket")
    if "IngestQueueUrl" not in outputs:
        raise TargetError("the target names no ingest queue (deploy / restart the current version)")
    return Target(client, env, table, outputs["IngestQueueUrl"], quarantine, buckets)


def _partner(target: Target, name: str) -> tuple[dict[str, Any], str]:
    """(the partner's cdk.json entry, its landing bucket)."""
    from takedown_infra.config import load

    partners = {p["id"]: p for p in load(target.env).partners}
    if name not in partners:
        raise TargetError(f"unknown partner {name!r}; environment {target.env} has {sorted(partners)}")
    if name not in target.buckets:
        raise TargetError(f"the target has no landing bucket for {name} (deploy / restart the current version)")
    return partners[name], target.buckets[name]


# --------------------------------------------------------------------------- check


def principal_arns(principal: str) -> set[str]:
    """How a bucket policy may name the partner's principal (an account id as its root ARN in
    any partition, or the id itself; an ARN as itself)."""
    from takedown_infra.partner_access import principal_kind

    if principal_kind(principal) == "account":
        return {principal, *(f"arn:{p}:iam::{principal}:root" for p in ("aws", "aws-cn", "aws-us-gov"))}
    return {principal}


def policy_grants(policy: dict[str, Any], bucket: str, principal: str) -> list[str]:
    """The actions an Allow statement of ``policy`` gives ``principal`` on ``bucket``'s objects."""
    names = principal_arns(principal)
    objects = {f"arn:{p}:s3:::{bucket}/*" for p in ("aws", "aws-cn", "aws-us-gov")}
    got: list[str] = []
    for st in policy.get("Statement", []):
        if st.get("Effect") != "Allow" or "Condition" in st:
            continue
        who = (st.get("Principal") or {}).get("AWS") if isinstance(st.get("Principal"), dict) else None
        who = [who] if isinstance(who, str) else list(who or [])
        res = st.get("Resource")
        res = [res] if isinstance(res, str) else list(res or [])
        if names & set(who) and objects & set(res):
            acts = st.get("Action")
            got.extend([acts] if isinstance(acts, str) else list(acts or []))
    return got


def _check_audio(path: Path) -> None:
    from .media import synth_track, write_audio

    seed = uuid.uuid4().int % 2**31  # new bytes every time: no earlier analysis is reused
    write_audio(path, synth_track(seed, CHECK_SECONDS, sample_rate=22050), 22050)


class Check:
    """The steps of one partner's check; each prints one line and returns whether it passed."""

    def __init__(self, target: Target, name: str, *, out=print, timeout: float = CHECK_TIMEOUT) -> None:
        self.target, self.name, self.out, self.timeout = target, name, out, timeout
        self.partner, self.bucket = _partner(target, name)
        self.s3 = target.client("s3")
        self.created: list[tuple[str, str]] = []      # (bucket, key) the check put
        self.record: Any = None
        self.unfinished = False                        # no outcome was recorded

    def say(self, ok: bool | None, text: str) -> bool:
        self.out(f"{ {True: 'ok  ', False: 'FAIL', None: 'note'}[ok] }  {text}")
        return bool(ok) or ok is None

    def bucket_exists(self) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError as e:
            return self.say(False, f"landing bucket {self.bucket}: {e.response['Error'].get('Code')}")
        return self.say(True, f"landing bucket {self.bucket} exists")

    def ownership(self) -> bool:
        """BucketOwnerEnforced: what the partner's account writes is owned by this account, so
        the fingerprint function can read it (with ObjectWriter it could not)."""
        from botocore.exceptions import ClientError

        try:
            rules = self.s3.get_bucket_ownership_controls(Bucket=self.bucket)["OwnershipControls"]["Rules"]
        except ClientError as e:
            return self.say(False, f"object ownership of {self.bucket}: {e.response['Error'].get('Code')}")
        owned = [r.get("ObjectOwnership") for r in rules]
        if owned == ["BucketOwnerEnforced"]:
            return self.say(True, "objects the partner writes are owned by this account (BucketOwnerEnforced)")
        return self.say(False, f"object ownership of {self.bucket} is {owned}, not BucketOwnerEnforced: what another "
                               "account writes could not be read")

    def notification(self) -> bool:
        sqs = self.target.client("sqs")
        arn = sqs.get_queue_attributes(QueueUrl=self.target.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        conf = self.s3.get_bucket_notification_configuration(Bucket=self.bucket)
        events = [e for q in conf.get("QueueConfigurations", []) if q.get("QueueArn") == arn for e in q.get("Events", [])]
        if any(e in ("s3:ObjectCreated:*", "s3:ObjectCreated:Put") for e in events):
            return self.say(True, f"new objects notify the ingest queue ({', '.join(events)})")
        return self.say(False, f"no s3:ObjectCreated notification from {self.bucket} to the ingest queue {arn}")

    def policy(self) -> bool:
        from botocore.exceptions import ClientError

        principal = self.partner.get("principal")
        if not principal:
            return self.say(None, f"no principal in cdk.json for {self.name}: only this account can write into "
                                  f"{self.bucket} (set partners[].principal to let the partner write)")
        try:
            doc = json.loads(self.s3.get_bucket_policy(Bucket=self.bucket)["Policy"])
        except ClientError as e:
            return self.say(False, f"bucket policy of {self.bucket}: {e.response['Error'].get('Code')}")
        granted = policy_grants(doc, self.bucket, principal)
        missing = [a for a in CHECK_ACTIONS if a not in granted and "s3:*" not in granted]
        if missing:
            return self.say(False, f"the bucket policy does not grant {principal} {', '.join(missing)} on "
                                   f"{self.bucket}/* (deploy the current cdk.json)")
        return self.say(True, f"the bucket policy lets {principal} write ({', '.join(sorted(set(granted)))})")

    def upload(self) -> bool:
        """A few seconds of real audio and its sidecar (first), then the upload's outcome."""
        from takedown_adapters.dynamo import DynamoCaseRepository

        stem = f"{CHECK_REF}/{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        key, side = f"{stem}.flac", f"{stem}.json"
        with tempfile.TemporaryDirectory(prefix="takedown-check-") as tmp:
            path = Path(tmp) / "check.flac"
            _check_audio(path)
            sidecar = {"partner_ref": CHECK_REF, "title": "takedown partners check (test upload, removed after)"}
            self.s3.put_object(Bucket=self.bucket, Key=side, Body=json.dumps(sidecar).encode(),
                               ContentType="application/json")
            self.created.append((self.bucket, side))
            self.s3.upload_file(str(path), self.bucket, key)
            self.created.append((self.bucket, key))
        self.say(True, f"put {CHECK_SECONDS} s of audio and its sidecar as s3://{self.bucket}/{key}")
        repo = DynamoCaseRepository(self.target.table, self.target.client("dynamodb"))
        deadline, failure, noted = time.monotonic() + self.timeout, None, False
        while time.monotonic() < deadline:
            self.record = repo.get_upload(self.bucket, key)
            if self.record is not None:
                break
            failure = repo.get_ingest_failure(self.bucket, key)
            if failure and failure.get("index_unavailable"):
                break  # no catalogue to match against: retrying will not help until one is published
            if failure and not noted:
                noted = self.say(None, f"the ingest failed once ({failure.get('error')}: {failure.get('message')}); "
                                       "it retries")
            time.sleep(0.5)
        if self.record is None:
            self.unfinished = True
            why = f": {failure.get('error')}: {failure.get('message')}" if failure else ""
            return self.say(False, f"no outcome recorded for the test upload after "
                                   f"{self.timeout - max(0.0, deadline - time.monotonic()):.0f} s{why}")
        r = self.record
        text = f"outcome recorded: {r.outcome}" + (f" ({r.reason})" if r.reason else "")
        detail = r.extra.get("detail")
        if detail:
            text += f": {detail}"
        if r.case_id:
            text += f"; case {r.case_id} (the test audio matched the catalogue: look at it, it is kept)"
        return self.say(r.outcome in ("no_match", "quarantined", "case", "licensed"), text)

    def clean_up(self) -> None:
        """Remove the test objects and what the ingest recorded about them (the upload record,
        the analysis of its bytes, a quarantine copy). A case, if one opened, is left to a person;
        the idempotency record expires by itself within a day."""
        r = self.record
        if r is not None and r.case_id:
            self.say(None, f"left in place: the test upload opened case {r.case_id}; a person looks at it first")
            return
        ddb = self.target.client("dynamodb")
        removed = 0
        for bucket, key in self.created:
            self.s3.delete_object(Bucket=bucket, Key=key)
            removed += 1
            for sk in ("UPLOAD", "FAILURE"):
                ddb.delete_item(TableName=self.target.table, Key={"pk": {"S": f"UPLOAD#{bucket}/{key}"}, "sk": {"S": sk}})
        if r is not None and r.content_hash:
            ddb.delete_item(TableName=self.target.table, Key={"pk": {"S": f"SUB#{r.content_hash}"}, "sk": {"S": "SUB"}})
        if r is not None and r.outcome == "quarantined" and self.target.quarantine_bucket:
            for bucket, key in self.created:
                for qkey in (f"{bucket}/{key}", f"{bucket}/{key}.reason.json"):
                    self.s3.delete_object(Bucket=self.target.quarantine_bucket, Key=qkey)
        self.say(True, f"removed the {removed} test object(s) and their records")
        if self.unfinished:
            self.say(None, "the ingest queue still holds the test upload's message: once retried against the "
                           "removed objects it ends in the dead-letter queue (`takedown dlq list`)")

    def run(self) -> bool:
        self.out(f"checking partner {self.name} ({self.partner.get('name', self.name)}) in {self.target.env}")
        ok = self.bucket_exists()
        if not ok:
            return False
        notified = self.notification()
        ok = all([self.ownership(), self.policy(), notified])
        if not notified:
            self.say(None, "no test upload: without the notification nothing would reach the ingest")
            self.out(f"{self.name}: NOT ready")
            return False
        try:
            ok = self.upload() and ok
        finally:
            if self.created:
                self.clean_up()
        self.out(f"{self.name}: {'ready' if ok else 'NOT ready'}")
        return ok


def cmd_check(args: argparse.Namespace) -> int:
    check = Check(resolve(args), args.name, timeout=args.timeout)
    return 0 if check.run() else 1


# --------------------------------------------------------------------------- report


@dataclass
class Quarantined:
    at: str
    key: str
    reason: str
    field: str | None
    detail: str


def quarantines(target: Target, name: str, *, since: str | None = None) -> list[Quarantined]:
    """The partner's quarantined uploads (oldest first), from the quarantine bucket's reason
    files under its landing bucket's prefix, each checked against its upload record."""
    from takedown_adapters.dynamo import DynamoCaseRepository

    _, bucket = _partner(target, name)
    if not target.quarantine_bucket:
        raise TargetError("the target names no quarantine bucket (deploy / restart the current version)")
    s3 = target.client("s3")
    repo = DynamoCaseRepository(target.table, target.client("dynamodb"))
    prefix = f"{bucket}/"
    out: list[Quarantined] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.quarantine_bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith(".reason.json"):
                continue
            doc = json.loads(s3.get_object(Bucket=target.quarantine_bucket, Key=obj["Key"])["Body"].read())
            key = obj["Key"][len(prefix):-len(".reason.json")]
            rec = repo.get_upload(bucket, key)
            if rec is not None and rec.outcome != "quarantined":
                continue  # delivered again since, and it went through
            at = (rec.recorded_at if rec is not None else None) or doc.get("at") or ""
            if since and at[:10] < since:
                continue
            extra = rec.extra if rec is not None else {}
            out.append(Quarantined(at=at, key=key, reason=(rec.reason if rec is not None else None) or doc.get("reason", ""),
                                   field=extra.get("sidecar_field"), detail=extra.get("detail") or doc.get("detail", "")))
    return sorted(out, key=lambda q: (q.at, q.key))


def render(rows: list[Quarantined], fmt: str, name: str) -> str:
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["at", "key", "reason", "field", "detail"])
        for r in rows:
            w.writerow([r.at, r.key, r.reason, r.field or "", r.detail])
        return buf.getvalue()
    lines = [f"{len(rows)} quarantined upload(s) of {name}" + (":" if rows else "")]
    for r in rows:
        lines.append(f"{r.at}  {r.key}\n    {r.reason}" + (f" (sidecar field {r.field})" if r.field else "")
                     + f": {r.detail}")
    if rows:
        lines.append("what each reason means and what to fix: docs/partners.md")
    return "\n".join(lines) + "\n"


def cmd_report(args: argparse.Namespace) -> int:
    if args.since and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.since):
        print("error: --since is a day, YYYY-MM-DD", file=sys.stderr)
        return 2
    rows = quarantines(resolve(args), args.name, since=args.since)
    sys.stdout.write(render(rows, args.format, args.name))
    return 0


# --------------------------------------------------------------------------- schema


def schema_text() -> str:
    """docs/sidecar.schema.json as it must read (generated from the Sidecar model)."""
    from takedown_core.sidecar import json_schema

    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def cmd_schema(args: argparse.Namespace) -> int:
    if args.out:
        Path(args.out).write_text(schema_text())
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(schema_text())
    return 0


# --------------------------------------------------------------------------- wiring


def add_commands(sub) -> None:
    partners = sub.add_parser("partners", help="partners' setup check, quarantine report, sidecar schema").add_subparsers(
        dest="partners_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("name", help="the partner's id in cdk.json")
        p.add_argument("--stack", help="a deployed stack's name (default: the running `takedown local up --expose-aws`)")
        p.add_argument("--region", default=None)
        p.add_argument("--env", help="cdk.json environment of the target (default: the local stack's, or the stack name's)")

    ck = partners.add_parser("check", help="bucket, notification, policy, then a test upload through to its outcome")
    common(ck)
    ck.add_argument("--timeout", type=float, default=CHECK_TIMEOUT, help="seconds to wait for the outcome")
    ck.set_defaults(func=_guard(cmd_check))
    rp = partners.add_parser("report", help="the partner's quarantined uploads, with the reason in detail")
    common(rp)
    rp.add_argument("--since", help="first day (YYYY-MM-DD)")
    rp.add_argument("--format", choices=["text", "csv", "json"], default="text")
    rp.set_defaults(func=_guard(cmd_report))
    sc = partners.add_parser("schema", help="the sidecar's JSON Schema (docs/sidecar.schema.json)")
    sc.add_argument("--out", help="write it here (default: standard output)")
    sc.set_defaults(func=cmd_schema)
