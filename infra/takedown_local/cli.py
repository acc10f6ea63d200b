"""`takedown`: the command line over the domain core and the embedded stack.

    takedown demo                          the whole workflow on embedded AWS over real music
    takedown local run --catalog DIR --uploads DIR [--decide approve|reject|none] [--summary FILE]
    takedown local up [--catalog DIR] [--uploads DIR] [--port N] [--expose-aws [--aws-port N]] [--show-mail]
    takedown catalog build DIR --out INDEX
    takedown match --index INDEX FILE... [--jsonl]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from . import cases_cli, dlq_cli, engine_cli, partners_cli, report

DEMO_DIR = Path(os.environ.get("TAKEDOWN_CACHE", Path.home() / ".cache" / "takedown")) / "demo"


def _quiet_logs(verbose: bool) -> None:
    import warnings

    warnings.filterwarnings("ignore", message="No application metrics to publish")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG" if verbose else "ERROR")
    os.environ.setdefault("LOG_LEVEL", "DEBUG" if verbose else "WARNING")
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "urllib3", "moto", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.ERROR if not verbose else logging.INFO)


def _stack(args: argparse.Namespace, **kw: Any):
    from .runtime import LocalStack

    return LocalStack(getattr(args, "env", "dev"), review_port=getattr(args, "port", 0) or 0, **kw)


def _write_summary(summary: dict[str, Any], path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"summary written to {path}", file=sys.stderr)


def cmd_local_run(args: argparse.Namespace) -> int:
    from .driver import RunError, needs_attention, print_summary, run, say

    _quiet_logs(args.verbose)
    for what, folder in (("catalogue", args.catalog), ("uploads", args.uploads)):
        if not Path(folder).is_dir():
            print(f"error: {what} folder {folder} does not exist (give a folder of audio files)", file=sys.stderr)
            return 2
    say("starting the embedded stack (CDK synth -> moto) ...")
    try:
        with _stack(args) as stack:
            summary = run(stack, catalog=Path(args.catalog), uploads=Path(args.uploads), decide=args.decide,
                          partner=args.partner)
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print_summary(summary)
    _write_summary(summary, args.summary)
    return 3 if needs_attention(summary) else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .corpus import make_demo
    from .driver import RunError, needs_attention, print_summary, run, say

    _quiet_logs(args.verbose)
    workdir = Path(args.workdir)
    say(f"preparing demo media in {workdir} (real open music from Debian, fetched once and cached) ...")
    catalog, uploads = make_demo(workdir, say=say)
    say((workdir / "SOURCE.txt").read_text().strip())
    say("starting the embedded stack (CDK synth -> moto) ...")
    try:
        with _stack(args) as stack:
            summary = run(stack, catalog=catalog, uploads=uploads, decide="approve")
            mails = stack.sent_mail()
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print_summary(summary)
    kinds = {k: [m for m in mails if _mail_kind(m["subject"]) == k] for k in ("review", "copy", "notice")}
    print(f"\n{len(mails)} emails sent through SES: {len(kinds['review'])} to reviewers (requests, reminders, "
          f"digests), {len(kinds['notice'])} notices to platforms by email, {len(kinds['copy'])} copies of notices "
          "to the rights desk (notices sent by API or waiting on a web form are in the table above); "
          f"summary JSON: {args.summary or '(use --summary FILE)'}")
    # a copyright notice first (what most cases end in), else whatever notice went
    shown = next((m for m in kinds["notice"] if m["subject"].startswith("DMCA")), kinds["notice"][0] if kinds["notice"] else None)
    if shown is not None:
        print("\na notice as the platform received it:" + _mail_text(shown))
    _write_summary(summary, args.summary)
    return 3 if needs_attention(summary) else 0


def _mail_kind(subject: str) -> str:
    """"review" (a request, reminder, escalation or digest to a reviewer), "copy" (a notice's
    copy to the rights desk) or "notice" (to a platform), from the subject lines the mail
    templates write (templates/emails/words.txt.j2, dispatch's "[copy] " prefix)."""
    s = subject.strip().lower()
    if s.startswith("[copy]"):
        return "copy"
    if s.startswith(("review needed", "reminder, review needed", "escalated to you")) or s.endswith("waiting for you"):
        return "review"
    return "notice"


def _text_of(body: str) -> str:
    import html
    import re

    if "<" not in body:
        return body
    body = re.sub(r"(?is)<(style|script|head|title)[^>]*>.*?</\1>", "", body)
    body = re.sub(r"(?i)<br\s*/?>|</p>|</h\d>|</li>|</tr>", "\n", body)
    return re.sub(r"\n\s*\n+", "\n\n", html.unescape(re.sub(r"<[^>]+>", "", body))).strip()


def _mail_text(mail: dict[str, Any]) -> str:
    """A captured mail (review request, digest, notice) as a person reads it: who, subject,
    then its text part (or the text of its HTML when it has none) and the names of its
    attachments."""
    body = mail.get("text") or _text_of(mail.get("body") or "")
    to = ", ".join(mail.get("to") or [])
    rule = "-" * 72
    out = f"\n{rule}\nmail to {to}: {mail.get('subject', '')}\n{rule}\n{body.rstrip()}"
    if mail.get("attachments"):
        out += "\n[attached: " + ", ".join(sorted(mail["attachments"])) + "]"
    return out + f"\n{rule}"


EXPOSE_WARNING = (
    "WARNING: the embedded AWS is exposed on {endpoint} without authentication. Any process on this "
    "machine can use it: read the link-signing key from its Secrets Manager and forge review links and "
    "decisions, read and change every case, bucket and queue. A development tool: stop it when done."
)


def cmd_local_up(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Keep the stack running until Ctrl-C / SIGTERM (or ``stop`` is set)."""
    from .driver import RunError, print_summary, run, say

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _quiet_logs(args.verbose)
    say("starting the embedded stack (CDK synth -> moto) ...")
    try:
        with _stack(args) as stack:
            if args.catalog and args.uploads:
                summary = run(stack, catalog=Path(args.catalog), uploads=Path(args.uploads), decide="none")
                print_summary(summary)
            elif args.catalog:
                import tempfile

                from .driver import build_index, publish_index, publish_reference_audio, search_plan

                with tempfile.TemporaryDirectory(prefix="takedown-index-") as tmp:
                    manifest = build_index(Path(args.catalog), Path(tmp) / "index",
                                           shards_per_function=stack.shards_per_function)
                    say(f"published index {publish_index(stack, Path(tmp) / 'index')}: "
                        + search_plan(len(manifest["shards"]), stack.shards_per_function))
                publish_reference_audio(stack, Path(args.catalog))
            elif args.uploads:
                raise RunError("--uploads needs --catalog: there is nothing to match against yet")
            # The embedded AWS answers anyone who can reach it, the link-signing key included:
            # served only when asked for, and said so.
            endpoint = stack.serve_aws(args.aws_port) if args.expose_aws else None
            state = cases_cli.write_local_state({
                "endpoint": endpoint, "region": stack.region, "table": stack.table_name,
                "workflow_function": stack.function_name("takedown_handlers.workflow.handler"),
                "review_base_url": stack.review_base_url, "partner_buckets": stack.partner_buckets,
                "ingest_queue_url": stack.ingest_queue_url, "dlq_url": stack.dlq_url,
                "quarantine_bucket": stack.quarantine_bucket, "env": stack.env_name})
            print(f"\nreview API on {stack.review_base_url}  (Ctrl-C stops everything)")
            if endpoint:
                print("\n" + EXPOSE_WARNING.format(endpoint=endpoint) + "\n", file=sys.stderr, flush=True)
                print(f"embedded AWS endpoint {endpoint} (for `takedown cases ...` and `local drop`; state in {state})")
                first = next(iter(stack.partner_buckets.values()))
                print(f"from another shell: .venv/bin/takedown local drop song.mp3 [--sidecar song.json]  "
                      f"(into {first}); .venv/bin/takedown cases list")
            else:
                print("embedded AWS not exposed: `takedown cases ...` and `local drop` from another shell need "
                      "`local up --expose-aws`")
            print(f"partner buckets: {json.dumps(stack.partner_buckets)}", flush=True)
            print("\neach reviewer's queue (the cases waiting for them; the same link is in every review mail):")
            for q in stack.queue_links():
                print(f"  {q['reviewer']}: {q['url']}", flush=True)
            shown: set[str] = set()
            mails_shown = 0
            while not stop.is_set():
                for link in stack.review_links():
                    if link["url"] not in shown:
                        shown.add(link["url"])
                        print(f"\nmail to {link['to']}: {link['subject']}\n  open: {link['url']}", flush=True)
                if args.show_mail:
                    mails = stack.sent_mail()
                    for mail in mails[mails_shown:]:
                        print(_mail_text(mail), flush=True)
                    mails_shown = len(mails)
                stop.wait(1)
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        cases_cli.clear_local_state()
    return 0


def cmd_local_drop(args: argparse.Namespace) -> int:
    """Put files into a partner bucket of the running `local up` (sidecar first, as partners do)."""
    import boto3

    try:
        st = cases_cli.local_state()
    except cases_cli.TargetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    buckets = st["partner_buckets"]
    partner = args.partner or next(iter(buckets))
    if partner not in buckets:
        print(f"error: unknown partner {partner!r}; configured: {sorted(buckets)}", file=sys.stderr)
        return 2
    s3 = boto3.client("s3", endpoint_url=st["endpoint"], region_name=st["region"],
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    for f in map(Path, args.files):
        if not f.is_file():
            print(f"error: {f} is not a file", file=sys.stderr)
            return 2
        if args.sidecar:
            s3.upload_file(args.sidecar, buckets[partner], f"{f.stem}.json")
        s3.upload_file(str(f), buckets[partner], f.name)
        print(f"dropped {f.name} into {partner} ({buckets[partner]})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="takedown", description="Takedown workflow for record labels.")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole workflow on embedded AWS over real open music")
    demo.add_argument("--workdir", default=str(DEMO_DIR), help="where demo media is made (cached)")
    demo.add_argument("--summary", help="also write the JSON summary here")
    demo.add_argument("--verbose", action="store_true")
    demo.set_defaults(func=cmd_demo)

    local = sub.add_parser("local", help="the embedded stack (moto)").add_subparsers(dest="local_command", required=True)
    run = local.add_parser("run", help="index a catalogue, drop uploads, run the workflow, summarize")
    run.add_argument("--catalog", required=True, help="folder of reference audio (track id = file name)")
    run.add_argument("--uploads", required=True, help="folder of media to drop into partner buckets")
    run.add_argument("--decide", choices=["approve", "reject", "none"], default="none",
                     help="decide every case through the review page (none: cases wait in review)")
    run.add_argument("--summary", help="write the JSON summary to this file")
    run.add_argument("--partner", help="partner whose bucket receives the uploads (default: the first)")
    run.add_argument("--env", default="dev", help="cdk.json environment whose settings to use")
    run.add_argument("--verbose", action="store_true")
    run.set_defaults(func=cmd_local_run)
    up = local.add_parser("up", help="keep the stack and the review page running until Ctrl-C")
    up.add_argument("--catalog", help="optionally index this catalogue first")
    up.add_argument("--uploads", help="optionally drop these uploads first")
    up.add_argument("--port", type=int, default=8765, help="loopback port of the review API")
    up.add_argument("--expose-aws", action="store_true",
                    help="also serve the embedded AWS on loopback, for `takedown cases` and `local drop` from another "
                         "shell (unauthenticated: any local process can read the link-signing key through it)")
    up.add_argument("--aws-port", type=int, default=8766, help="loopback port of the embedded AWS (with --expose-aws)")
    up.add_argument("--show-mail", action="store_true",
                    help="print the body of every captured mail and notice (text part), as it is sent")
    up.add_argument("--env", default="dev")
    up.add_argument("--verbose", action="store_true")
    up.set_defaults(func=cmd_local_up)
    drop = local.add_parser("drop", help="drop media into a partner bucket of the running `local up`")
    drop.add_argument("files", nargs="+")
    drop.add_argument("--partner", help="partner id (default: the first configured)")
    drop.add_argument("--sidecar", help="a metadata sidecar JSON to put beside the media first")
    drop.set_defaults(func=cmd_local_drop)

    engine_cli.add_commands(sub)
    cases_cli.add_commands(sub)
    dlq_cli.add_commands(sub)
    partners_cli.add_commands(sub)
    report.add_commands(sub)
    return p


def aws_problem(exc: BaseException, args: argparse.Namespace | None = None) -> str | None:
    """One plain line for an AWS set-up problem (no credentials, no region, no such stack,
    AWS unreachable, access denied), or None when ``exc`` is something else."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError, \
        PartialCredentialsError, ProfileNotFound

    stack = getattr(args, "stack", None)
    if isinstance(exc, cases_cli.TargetError):
        return str(exc)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return ("no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY for the "
                "account the stack is in")
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region REGION (the stack's region in cdk.json) or set AWS_REGION"
    if isinstance(exc, ProfileNotFound):
        return f"AWS profile not found: {exc}"
    if isinstance(exc, EndpointConnectionError):
        return f"AWS could not be reached ({exc}); check the region and the network"
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, message = err.get("Code", ""), err.get("Message", "")
        if code == "ValidationError" and "does not exist" in message:
            return (f"stack {stack + ' ' if stack else ''}not found in this account and region: check --stack and "
                    "--region (`./go cdk ls ENV` names it)")
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "ExpiredToken",
                    "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"):
            return f"AWS refused the request ({code}): {message}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # AWS set-up problems are one line for the operator, not a traceback
        problem = aws_problem(exc, args)
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
