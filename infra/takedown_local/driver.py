"""Drive the whole workflow on the embedded stack: catalogue in, uploads in, outcomes out.

Used by `takedown local run`, `takedown demo` and the end-to-end tests. Everything it does
goes through the stack's own doors: index published to the catalogue bucket, media dropped
into partner buckets, decisions posted to the review API exactly as a browser would.
"""

from __future__ import annotations

import html as htmllib
import json
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from takedown_core.cases import TERMINAL, Status, ending_reason

from .runtime import LocalStack

SIDECAR_SUFFIX = ".json"
INGEST_SECONDS_PER_FILE = 30.0   # generous ceiling for decode + match of one upload locally
WORKFLOW_SETTLE_SECONDS = 60.0   # ceiling for a case to reach review / its end after a decision
PROGRESS_SECONDS = 5.0           # how often outcomes are counted while the ingest queue is busy


class RunError(RuntimeError):
    """The run could not go on; the message says what to do."""


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Upload:
    file: str          # path relative to the uploads folder (what the summary calls it)
    path: Path
    partner: str
    bucket: str
    key: str


def media_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and not p.name.endswith(SIDECAR_SUFFIX))


# The local index is written in this many groups of SHARDS_PER_FUNCTION shards, so that the
# fingerprint function searches it by fan-out through the shard function, as the deployed
# stack searches a catalogue larger than one function holds: two invocations, so that the
# merge of more than one answer runs too. A catalogue of fewer tracks than that has fewer
# shards (one track is never split); at or below SHARDS_PER_FUNCTION shards the fingerprint
# function searches them itself, as it would in AWS.
FAN_OUT_INVOCATIONS = 2


def local_shard_count(shards_per_function: int) -> int | None:
    """Shards for a local index: FAN_OUT_INVOCATIONS x ``shards_per_function`` (the fingerprint
    function's SHARDS_PER_FUNCTION), or None (the writer's own count) when it is 0: the
    configuration has no fan-out, and neither has the local run."""
    return FAN_OUT_INVOCATIONS * shards_per_function if shards_per_function > 0 else None


def build_index(catalog: Path, out: Path, *, shards_per_function: int = 0) -> dict[str, Any]:
    """`takedown catalog build` into out, in shards the fingerprint function fans out over when
    ``shards_per_function`` > 0 (``local_shard_count``); returns the manifest. Raises RunError
    if nothing could be indexed."""
    import argparse

    from .engine_cli import cmd_catalog_build

    code = cmd_catalog_build(argparse.Namespace(dir=str(catalog), out=str(out),
                                                shards=local_shard_count(shards_per_function)))
    if code != 0:
        raise RunError(f"could not build a catalogue index from {catalog} (exit {code}); see the messages above")
    return json.loads((out / "manifest.json").read_text())


def search_plan(shard_count: int, shards_per_function: int) -> str:
    """How the fingerprint function will search an index of ``shard_count`` shards, in words."""
    from takedown_core.matching import shard_groups

    if shards_per_function <= 0 or shard_count <= shards_per_function:
        return f"{shard_count} shard(s), searched in the fingerprint function"
    groups = shard_groups(shard_count, shards_per_function)
    return (f"{shard_count} shards, searched by fan-out: {len(groups)} shard-function invocations of up to "
            f"{shards_per_function} shards per round (a second round when the first finds no copy)")


def publish_index(stack: LocalStack, index_dir: Path, version: str | None = None) -> str:
    from takedown_adapters.aws import S3IndexStore

    import hashlib

    digest = hashlib.sha256((index_dir / "manifest.json").read_bytes()).hexdigest()[:12]
    version = version or time.strftime("v%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{digest}"
    S3IndexStore(stack.client("s3"), stack.catalog_bucket).publish(index_dir, version)
    return version


def publish_reference_audio(stack: LocalStack, catalog: Path) -> int | None:
    """Fill the stack's reference-audio bucket from the catalogue folder, as ``catalog publish
    --references`` does, when the environment lets reviewers hear our recordings
    (cdk.json ``review.reference_audio``); None when it does not."""
    if not stack.config.review.get("reference_audio"):
        return None
    from .index_build import publish_reference_audio as publish

    return publish(stack.client("s3"), stack.reference_bucket, catalog)


def drop_uploads(stack: LocalStack, uploads: Path, *, partner: str | None = None) -> list[Upload]:
    """Put every media file (and its sidecar, first) into a partner's landing bucket.

    A top-level folder named after a configured partner id sends its files to that partner;
    everything else goes to `partner` (default: the first configured partner).
    """
    s3 = stack.client("s3")
    default = partner or next(iter(stack.partner_buckets))
    if default not in stack.partner_buckets:
        raise RunError(f"unknown partner {default!r}; configured: {sorted(stack.partner_buckets)}")
    out = []
    for path in media_files(uploads):
        rel = path.relative_to(uploads).as_posix()
        first = rel.split("/", 1)[0]
        pid = first if first in stack.partner_buckets and "/" in rel else default
        bucket = stack.partner_buckets[pid]
        for side in (path.with_name(path.name + SIDECAR_SUFFIX), path.with_suffix(SIDECAR_SUFFIX)):
            if side.is_file() and side != path:
                s3.upload_file(str(side), bucket, rel[: -len(path.name)] + side.name)
                break
        s3.upload_file(str(path), bucket, rel)
        out.append(Upload(file=rel, path=path, partner=pid, bucket=bucket, key=rel))
    return out


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise RunError(f"timed out after {timeout:.0f}s waiting for {what}")


def wait_ingested(stack: LocalStack, uploads: list[Upload], progress: bool = True) -> None:
    """Wait until every upload has a recorded outcome, or what is left sits in the DLQ, or the
    deadline passes. While the ingest queue still holds messages, outcomes are counted only
    every few seconds: each count reads every pending record, and those reads would compete
    with the fingerprint function for the (serialised) table."""
    repo = stack.repository()
    pending = {(u.bucket, u.key) for u in uploads}
    deadline = time.monotonic() + 30 + INGEST_SECONDS_PER_FILE * len(uploads)
    last, counted = -1, 0.0
    while pending and time.monotonic() < deadline:
        busy = _queue_busy(stack)
        if busy and time.monotonic() - counted < PROGRESS_SECONDS:
            time.sleep(0.2)
            continue
        counted = time.monotonic()
        pending = {bk for bk in pending if repo.get_upload(*bk) is None}
        done = len(uploads) - len(pending)
        if progress and done != last:
            say(f"  ingested {done}/{len(uploads)} uploads")
            last = done
        if pending:
            if not busy and dlq_depth(stack):
                break  # what is left is in the dead-letter queue; the summary counts it as lost
            time.sleep(0.2)


def dlq_depth(stack: LocalStack) -> int:
    a = stack.client("sqs").get_queue_attributes(QueueUrl=stack.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(a["Attributes"]["ApproximateNumberOfMessages"])


def _queue_busy(stack: LocalStack) -> bool:
    a = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.ingest_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]) > 0


def settled(stack: LocalStack, case_id: str, links: set[str] | None = None) -> bool:
    """The case waits for a person (in review with a link sent) or has ended.

    ``links`` is the set of review ids that have a mailed link (``mailed_review_ids``), when
    the caller checks many cases at once."""
    case = stack.repository().get_case(case_id)
    if case is None:
        return False
    if case.status in TERMINAL or case.status in _HANDED_OVER:
        return True
    if case.status != Status.IN_REVIEW or case.review_id is None:
        return False
    if case.review_id in (links if links is not None else mailed_review_ids(stack)):
        return True
    review = stack.repository().get_review(case.review_id)
    return review is not None and review.delivery == "digest"


def finished(stack: LocalStack, case_id: str) -> bool:
    case = stack.repository().get_case(case_id)
    return case is not None and (case.status in TERMINAL or case.status in _HANDED_OVER)


_REVIEW_ID = re.compile(r"/review/([^/?#\s]+)\?")


def mailed_review_ids(stack: LocalStack) -> set[str]:
    return {m.group(1) for link in stack.review_links() if (m := _REVIEW_ID.search(link["url"]))}


def wait_all(stack: LocalStack, case_ids: list[str], done: Callable[[str, set[str]], bool], timeout: float,
             interval: float = 0.25) -> list[str]:
    """Wait until ``done(case_id, mailed_review_ids)`` holds for every case, or ``timeout``
    passes with no case making progress; returns the cases still not done (never raises)."""
    pending = list(case_ids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        links = mailed_review_ids(stack)
        still = [cid for cid in pending if not done(cid, links)]
        if len(still) < len(pending):
            deadline = time.monotonic() + timeout  # progress: the clock restarts
        pending = still
        if pending:
            time.sleep(interval)
    return pending


def reconcile_now(stack: LocalStack) -> dict[str, Any]:
    """Run the reconciler once, as its schedule would after the deadline (nothing running is touched)."""
    fn = stack.function_name("takedown_handlers.reconcile.handler")
    resp = stack.client("lambda").invoke(FunctionName=fn, Payload=json.dumps({"stuck_after_seconds": 0}).encode())
    return json.loads(resp["Payload"].read() or b"null") or {}


def _link_for(stack: LocalStack, review_id: str) -> str | None:
    for link in reversed(stack.review_links()):
        if f"/review/{review_id}?" in link["url"]:
            return link["url"]
    return None


def http(method: str, url: str, data: dict[str, str] | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method, headers={
        "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "takedown-local-run"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:  # loopback only: the local review API
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def decide_case(stack: LocalStack, case_id: str, decision: str) -> int:
    """Open the emailed link (GET: evidence only), then press the button (POST)."""
    case = stack.repository().get_case(case_id)
    if case is None or case.status != Status.IN_REVIEW or not case.review_id:
        return 0
    url = _link_for(stack, case.review_id)
    if url is None:
        # Held for the hourly digest (a long queue): let the hour pass, as EventBridge would.
        stack.run_schedules_now()
        url = _link_for(stack, case.review_id)
    if url is None:
        raise RunError(f"no review link was mailed for {case_id}")
    status, page = http("GET", url)
    if status != 200:
        raise RunError(f"review page for {case_id} answered {status}")
    form = _form_fields(page)
    action = urllib.parse.urljoin(url, htmllib.unescape(_form_action(page)))
    fields = {k: form[k] for k in ("csrf", "exp", "sig") if k in form}
    fields["decision"] = decision
    if decision == "reject":
        fields.update(reason="other", note="Rejected in a local run (takedown local run --decide reject)")
    else:
        fields["note"] = "Approved in a local run (takedown local run --decide approve)"
    status, _ = http("POST", action, fields)
    return status


def _form_fields(page: str) -> dict[str, str]:
    out = {}
    for m in re.finditer(r"<input[^>]*>", page):
        tag = m.group(0)
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and value and 'type="hidden"' in tag:
            out[htmllib.unescape(name.group(1))] = htmllib.unescape(value.group(1))
    return out


def _form_action(page: str) -> str:
    m = re.search(r'<form[^>]*action="([^"]+)"', page)
    if not m:
        raise RunError("the review page has no decision form")
    return m.group(1)


# Cases a run waits for no longer: ended, or handed over (notice sent, or queued for a person).
_HANDED_OVER = frozenset({Status.NOTICE_SENT, Status.NOTICE_QUEUED, Status.CONTENT_REMOVED, Status.COUNTER_NOTICED})


def failure_reason(case: Any) -> str | None:
    """The cause in one line of a case whose notice did not go out (cases.ending_reason)."""
    return ending_reason(case)


def summarize(stack: LocalStack, uploads: list[Upload], *, unfinished: list[str] | None = None,
              problems: list[str] | None = None) -> dict[str, Any]:
    """One row per upload (its outcome, its case's kind and status); what is not done is counted:
    ``lost`` (no outcome recorded), ``unfinished`` (cases still moving when the run stopped),
    ``failed`` (cases that ended FAILED, their cause in the row's reason), ``dead_letters``."""
    repo = stack.repository()
    rows, lost, failed = [], 0, 0
    for u in uploads:
        rec = repo.get_upload(u.bucket, u.key)
        if rec is None:
            lost += 1
            why = repo.get_ingest_failure(u.bucket, u.key)
            rows.append({"file": u.file, "outcome": None, "case_id": None, "track_id": None, "case_status": None,
                         "kind": None,
                         "reason": f"no outcome recorded (last attempt: {why['error']}: {why['message'][:200]})"
                         if why else "no outcome recorded"})
            continue
        case = repo.get_case(rec.case_id) if rec.case_id else None
        cause = failure_reason(case)
        failed += cause is not None
        rows.append({
            "file": u.file, "outcome": rec.outcome, "reason": cause or rec.reason, "case_id": rec.case_id,
            "track_id": rec.track_id, "case_status": case.status.value if case else None,
            "kind": case.kind.value if case else None,
            **({"detail": rec.extra["detail"]} if rec.outcome == "quarantined" and rec.extra.get("detail") else {}),
        })
    return {"uploads": rows, "lost": lost, "unfinished": sorted(set(unfinished or [])), "failed": failed,
            "problems": list(problems or []), "dead_letters": dlq_depth(stack)}


def needs_attention(summary: dict[str, Any]) -> bool:
    """True when a person must look: an upload without outcome, a case unfinished or FAILED,
    a dead letter, or a step of the run that did not work."""
    return bool(summary["lost"] or summary.get("unfinished") or summary.get("failed")
                or summary.get("dead_letters") or summary.get("problems"))


def run(
    stack: LocalStack,
    *,
    catalog: Path,
    uploads: Path,
    decide: str = "none",
    partner: str | None = None,
) -> dict[str, Any]:
    """Index, drop, let the workflow run, decide (optionally), summarise.

    Raises RunError only before anything was dropped (no catalogue, no uploads); from then on
    it always returns a summary, with whatever did not finish counted in it."""
    if not catalog.is_dir():
        raise RunError(f"catalogue folder {catalog} does not exist")
    if not uploads.is_dir():
        raise RunError(f"uploads folder {uploads} does not exist")
    say(f"1/4 building the catalogue index from {catalog}")
    with tempfile.TemporaryDirectory(prefix="takedown-index-") as tmp:
        index_dir = Path(tmp) / "index"
        manifest = build_index(catalog, index_dir, shards_per_function=stack.shards_per_function)
        version = publish_index(stack, index_dir)
    say(f"    published index {version} ({manifest['catalogue']['track_count']} tracks) to s3://{stack.catalog_bucket}; "
        + search_plan(len(manifest["shards"]), stack.shards_per_function))
    recordings = publish_reference_audio(stack, catalog)
    say(f"    {recordings} reference recording(s) put in the reference-audio bucket for review clips"
        if recordings is not None else "    reference audio is off in this environment: review clips play the upload only")
    say(f"2/4 dropping uploads from {uploads} into partner buckets")
    dropped = drop_uploads(stack, uploads, partner=partner)
    if not dropped:
        raise RunError(f"no files under {uploads}")
    problems: list[str] = []
    unfinished: list[str] = []
    try:
        say(f"3/4 fingerprinting and matching {len(dropped)} uploads")
        wait_ingested(stack, dropped)
        repo = stack.repository()
        case_ids = sorted({r.case_id for u in dropped if (r := repo.get_upload(u.bucket, u.key)) and r.case_id})
        say(f"4/4 {len(case_ids)} case(s) opened; waiting for the workflow")
        waiting = wait_all(stack, case_ids, lambda cid, links: settled(stack, cid, links), WORKFLOW_SETTLE_SECONDS)
        if waiting:  # as the reconciler's schedule would: start what never started, end what died
            moved = reconcile_now(stack)
            say(f"    {len(waiting)} case(s) did not reach review in time; reconciler: {moved}")
            waiting = wait_all(stack, waiting, lambda cid, links: settled(stack, cid, links), WORKFLOW_SETTLE_SECONDS)
        unfinished = waiting
        if decide in ("approve", "reject"):
            for cid in case_ids:
                if cid in waiting:
                    continue
                try:
                    status = decide_case(stack, cid, decide)
                except RunError as e:
                    problems.append(f"{cid}: {e}")
                    say(f"    could not {decide} {cid}: {e}")
                    continue
                if status:
                    say(f"    {decide}d {cid} through the review page (HTTP {status})")
            unfinished = wait_all(stack, case_ids, lambda cid, _: finished(stack, cid), WORKFLOW_SETTLE_SECONDS)
            if unfinished:
                reconcile_now(stack)
                unfinished = wait_all(stack, unfinished, lambda cid, _: finished(stack, cid), WORKFLOW_SETTLE_SECONDS)
    except KeyboardInterrupt:
        problems.append("interrupted before the workflow finished")
        say("    interrupted: summarising what is known")
    except Exception as e:  # noqa: BLE001 - the summary is written whatever happened after the drop
        problems.append(f"the run stopped early: {type(e).__name__}: {e}")
        say(f"    the run stopped early: {type(e).__name__}: {e}")
    return summarize(stack, dropped, unfinished=unfinished, problems=problems)


def print_summary(summary: dict[str, Any], stream=None) -> None:
    stream = stream or sys.stdout
    rows = summary["uploads"]
    w = max([len(r["file"]) for r in rows] + [4])
    print(f"\n{'file'.ljust(w)}  {'outcome':<11}  {'case kind':<18}  {'case status':<15}  {'track':<24}  reason",
          file=stream)
    print(f"{'-' * w}  {'-' * 11}  {'-' * 18}  {'-' * 15}  {'-' * 24}  {'-' * 20}", file=stream)
    for r in rows:
        print(f"{r['file'].ljust(w)}  {str(r['outcome']):<11}  {str(r.get('kind') or '-'):<18}  "
              f"{str(r['case_status'] or '-'):<15}  {str(r['track_id'] or '-')[:24]:<24}  {r['reason'] or ''}",
              file=stream)
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r["outcome"])] = counts.get(str(r["outcome"]), 0) + 1
    print(f"\n{len(rows)} uploads: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
          + f"; lost: {summary['lost']}; cases unfinished: {len(summary.get('unfinished') or [])}"
          + f"; cases failed: {summary.get('failed', 0)}; dead letters: {summary.get('dead_letters', 0)}", file=stream)
    quarantined = [r for r in rows if r.get("detail")]
    if quarantined:  # the reason code in the table; what to fix here (also in the quarantine bucket)
        print("\nquarantined, and what to fix:", file=stream)
        for r in quarantined:
            print(f"  {r['file']}: {r['reason']}: {r['detail']}", file=stream)
    for p in summary.get("problems") or []:
        print(f"problem: {p}", file=stream)
    queued = sum(1 for r in rows if r.get("case_status") == "NOTICE_QUEUED")
    if queued:  # not a fault: the platform takes notices only on its web form, which a person submits
        print(f"\n{queued} notice(s) wait for a person to submit them on the platform's web form: "
              "`takedown notices manual list` lists them on a running stack (deployed, or `local up "
              "--expose-aws`), `takedown notices manual done` records each submission with the platform's ticket", file=stream)
