"""`takedown cases ...`: look at cases and act on them, on the local stack or a deployed one.

Target selection: the running `takedown local up --expose-aws` by default, found from any
directory (it writes its loopback endpoint and process id to ``state_file()``, in the user's
state directory) or `--stack NAME` for a deployed stack (its CloudFormation outputs name the
table and the workflow function).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from takedown_core.cases import Status, ending_reason

def state_file() -> Path:
    """Where the running `local up` describes itself: ``$TAKEDOWN_STATE_DIR/local.json``, else
    ``$XDG_STATE_HOME/takedown/local.json`` (``~/.local/state/takedown/local.json``): one per
    user, whatever directory a command runs from."""
    base = os.environ.get("TAKEDOWN_STATE_DIR")
    if not base:
        base = str(Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "takedown")
    return Path(base) / "local.json"


class TargetError(RuntimeError):
    pass


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def write_local_state(data: dict[str, Any]) -> Path:
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**data, "pid": os.getpid()}, indent=2))
    return path


def clear_local_state() -> None:
    state_file().unlink(missing_ok=True)


def local_state() -> dict[str, Any]:
    """The running `local up`'s state, if it exposes its embedded AWS; else TargetError saying why."""
    path = state_file()
    if not path.exists():
        raise TargetError("no local stack is running: start `takedown local up --expose-aws` (or use --stack NAME)")
    st = json.loads(path.read_text())
    if not _alive(st.get("pid")):  # killed without cleaning up: say so, and forget it
        path.unlink(missing_ok=True)
        raise TargetError(f"the local stack recorded in {path} is no longer running (process {st.get('pid')}): "
                          "start `takedown local up --expose-aws` again")
    if not st.get("endpoint"):
        raise TargetError("the running `takedown local up` does not expose its embedded AWS: "
                          "start local up with --expose-aws")
    return st


def _target_session(args: argparse.Namespace) -> tuple[Any, str, dict[str, str]]:
    """(client factory, cases table name, the stack's outputs by key)."""
    import boto3

    if args.stack:
        session = boto3.session.Session(region_name=args.region)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in session.client("cloudformation").describe_stacks(
            StackName=args.stack)["Stacks"][0].get("Outputs", [])}
        if "CasesTable" not in outputs:
            raise TargetError(f"stack {args.stack} has no output CasesTable; deploy the current version first")
        return (lambda svc: session.client(svc)), outputs["CasesTable"], outputs
    st = local_state()
    session = boto3.session.Session(region_name=st["region"], aws_access_key_id="testing",
                                    aws_secret_access_key="testing")

    def client(svc: str) -> Any:
        return session.client(svc, endpoint_url=st["endpoint"])

    outputs = {"CasesTable": st["table"], "WorkflowFunction": st["workflow_function"],
               **({"IngestQueueUrl": st["ingest_queue_url"]} if st.get("ingest_queue_url") else {}),
               **({"IngestDLQUrl": st["dlq_url"]} if st.get("dlq_url") else {})}
    return client, st["table"], outputs


def _target(args: argparse.Namespace) -> tuple[Any, str, str]:
    """(boto3 session kwargs-bound client factory, table name, workflow function name)."""
    client, table, outputs = _target_session(args)
    try:
        return client, table, outputs["WorkflowFunction"]
    except KeyError as e:
        raise TargetError(f"the target has no output {e}; deploy the current version first") from None


def _repo(client, table: str):
    from takedown_adapters.dynamo import DynamoCaseRepository

    return DynamoCaseRepository(table, client("dynamodb"))


def cmd_list(args: argparse.Namespace) -> int:
    client, table, _ = _target(args)
    status = Status(args.status) if args.status else None
    cases = _repo(client, table).list_cases(status)
    if args.json:
        print(json.dumps([c.to_dict() for c in cases], indent=2))
        return 0
    print(f"{'case':<38}  {'status':<15}  {'kind':<18}  {'track':<22}  {'reviewer':<28}  location")
    for c in cases:
        print(f"{c.case_id:<38}  {c.status.value:<15}  {c.kind.value:<18}  {c.track_id[:22]:<22}  "
              f"{str(c.reviewer or '-')[:28]:<28}  {c.location}")
        why = ending_reason(c)
        if why:  # a case whose notice did not go out always shows why
            print(f"{'':<38}  cause: {why}")
    print(f"{len(cases)} case(s)", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    client, table, _ = _target(args)
    repo = _repo(client, table)
    case = repo.get_case(args.case_id)
    if case is None:
        print(f"error: no case {args.case_id}", file=sys.stderr)
        return 1
    doc = {"case": case.to_dict(), "audit": [e.to_dict() for e in repo.audit_trail(args.case_id)]}
    print(json.dumps(doc if args.full else _without_landmarks(doc), indent=2, default=str))
    return 0


def _without_landmarks(value: Any) -> Any:
    """``value`` with every long ``landmarks`` list (the evidence picture's [upload s,
    reference s] pairs, up to a few hundred) said in one line: they were most of what
    `cases show` printed. ``--full`` keeps them."""
    if isinstance(value, dict):
        return {k: (f"[{len(v)} landmark pairs: --full prints them]" if k == "landmarks" and isinstance(v, list)
                    and len(v) > 8 else _without_landmarks(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_landmarks(v) for v in value]
    return value


def _workflow_action(args: argparse.Namespace, action: str, **fields: Any) -> dict[str, Any] | None:
    """Run one action of the workflow Lambda (it holds the permissions, keys and mail sender)."""
    client, _, fn = _target(args)
    resp = client("lambda").invoke(FunctionName=fn, Payload=json.dumps({
        "action": action, "case_id": args.case_id, "actor": f"ops:{getpass.getuser()}", **fields}).encode())
    payload = json.loads(resp["Payload"].read() or b"null")
    if resp.get("FunctionError"):
        print(f"error: {payload.get('errorType')}: {payload.get('errorMessage')}", file=sys.stderr)
        return None
    return payload


def cmd_outcome(args: argparse.Namespace) -> int:
    payload = _workflow_action(args, "record_outcome", outcome=args.outcome, note=args.note)
    if payload is None:
        return 1
    print(f"case {args.case_id}: {payload['status']}")
    return 0


def cmd_counter_notice(args: argparse.Namespace) -> int:
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except OSError as e:
        print(f"error: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return 1
    payload = _workflow_action(args, "record_counter_notice", text=text, received_on=args.received)
    if payload is None:
        return 1
    print(f"case {args.case_id}: {payload['status']}; the platform may restore it from {payload['restore_earliest']} "
          f"to {payload['restore_latest']}; decide by {payload['decide_by']} ({payload['notified']} was told)")
    return 0


def cmd_reassign(args: argparse.Namespace) -> int:
    payload = _workflow_action(args, "reassign", reviewer=args.to)
    if payload is None:
        return 1
    print(f"case {args.case_id}: review moved from {payload['previous']} to {payload['reviewer']}; "
          "a new link was mailed and the old one no longer works")
    return 0


def _kept_bytes(client, record: dict[str, Any]) -> bytes | None:
    kept = record.get("kept") or {}
    if not kept.get("bucket") or not kept.get("key"):
        return None
    return client("s3").get_object(Bucket=kept["bucket"], Key=kept["key"])["Body"].read()


def _readable(body: bytes, media_type: str) -> str:
    """A kept notice for a person: an e-mail's headers and text part, a JSON body pretty-printed."""
    if media_type.startswith("message/rfc822"):
        from email import message_from_bytes
        from email.policy import default

        msg = message_from_bytes(body, policy=default)
        head = "\n".join(f"{k}: {msg[k]}" for k in ("From", "To", "Date", "Subject", "Message-ID") if msg[k])
        part = msg.get_body(("plain",))
        names = [a.get_filename() for a in msg.iter_attachments()]
        return head + "\n\n" + (part.get_content() if part else "") + (
            f"\n[attached: {', '.join(n for n in names if n)}]" if names else "")
    if media_type.startswith("application/json"):
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    return body.decode("utf-8", "replace")


def cmd_notice(args: argparse.Namespace) -> int:
    """Every notice of the case exactly as it went out (``--raw``: the bytes), with its record."""
    client, table, _ = _target(args)
    repo = _repo(client, table)
    if repo.get_case(args.case_id) is None:
        print(f"error: no case {args.case_id}", file=sys.stderr)
        return 1
    records = repo.list_notices(args.case_id)
    if not records:
        print(f"case {args.case_id} has no notice yet", file=sys.stderr)
        return 1
    for r in records:
        body = _kept_bytes(client, r)
        if args.raw:
            sys.stdout.buffer.write(body if body is not None else (r.get("text") or "").encode())
            continue
        when = r.get("sent_at") or r.get("queued_at") or r.get("rejected_at") or r.get("failed_at") or ""
        print(f"=== {r.get('law')} notice to {r.get('to')} by {r.get('route') or r['slot'].split(':', 1)[0]}: "
              f"{r.get('state')} {when}" + (f", ticket {r['ticket']}" if r.get("ticket") else "")
              + (f", reason: {r['reason']}" if r.get("reason") else ""))
        kept = r.get("kept") or {}
        if body is not None:
            print(f"    kept as s3://{kept['bucket']}/{kept['key']} (sha256 {kept.get('sha256')})\n")
            print(_readable(body, kept.get("media_type", "")))
        else:
            print("    (sent before notices were kept as sent: the text as rendered)\n")
            print(r.get("text") or "")
    return 0


def _notice_service(client, table: str):
    from takedown_core.dispatch import NoticeService

    # recording a manual submission sends nothing: no mailer, channel or registry is needed
    return NoticeService(repo=_repo(client, table), mailer=None, complainant={}, platforms={})


def cmd_manual_list(args: argparse.Namespace) -> int:
    client, table, _ = _target(args)
    queue = _notice_service(client, table).manual_queue()
    if args.json:
        print(json.dumps(queue, indent=2))
        return 0
    for e in queue:
        print(f"{e['queued_at']}  {e['case_id']}  {e['platform']:<12}  {e['law']:<16}  {e['form']}\n"
              f"{'':<26}{e['subject']}\n{'':<26}takedown notices manual done {e['case_id']} --ticket TICKET"
              + (f" --slot '{e['slot']}'" if e["notice_type"] != "copyright" else ""))
    print(f"{len(queue)} notice(s) waiting; `takedown cases notice CASE_ID` prints one to submit", file=sys.stderr)
    return 0


def cmd_manual_done(args: argparse.Namespace) -> int:
    from takedown_core.dispatch import NoticeNotAllowed

    client, table, _ = _target(args)
    svc = _notice_service(client, table)
    waiting = [e for e in svc.manual_queue() if e["case_id"] == args.case_id and (not args.slot or e["slot"] == args.slot)]
    if len(waiting) != 1:
        print(f"error: {'no' if not waiting else 'more than one'} notice of case {args.case_id} is waiting"
              + ("; give --slot" if waiting else ""), file=sys.stderr)
        return 1
    try:
        out = svc.complete_manual(case_id=args.case_id, slot=waiting[0]["slot"], ticket=args.ticket,
                                  by=f"ops:{getpass.getuser()}")
    except NoticeNotAllowed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"case {args.case_id}: {out['status']} (ticket {args.ticket})")
    return 0


def add_commands(sub) -> None:
    cases = sub.add_parser("cases", help="list, show and reassign cases; record outcomes and counter-notices; print notices as sent").add_subparsers(dest="cases_command",
                                                                                        required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--stack", help="a deployed stack's name (default: the running `takedown local up --expose-aws`)")
        p.add_argument("--region", default=None)

    ls = cases.add_parser("list", help="cases, optionally by status")
    ls.add_argument("--status", choices=[s.value for s in Status])
    ls.add_argument("--json", action="store_true")
    common(ls)
    ls.set_defaults(func=_guard(cmd_list))
    show = cases.add_parser("show", help="one case with its audit trail (JSON)")
    show.add_argument("case_id")
    show.add_argument("--full", action="store_true", help="with every landmark pair of the evidence (hundreds of lines)")
    common(show)
    show.set_defaults(func=_guard(cmd_show))
    re = cases.add_parser("reassign", help="give a waiting review to another configured reviewer")
    re.add_argument("case_id")
    re.add_argument("--to", required=True, help="the reviewer's address (must be in cdk.json reviewers)")
    common(re)
    re.set_defaults(func=_guard(cmd_reassign))
    out = cases.add_parser("outcome", help="record what the platform did with a sent notice")
    out.add_argument("case_id")
    out.add_argument("outcome", choices=["removed", "rejected", "restored", "legal_action", "disputed"],
                     help="removed / rejected: what the platform did with the notice; restored / legal_action: "
                          "how a counter-notice ended (disputed: older cases)")
    out.add_argument("--note", help="e.g. the platform's reference, its reason, the court and docket number")
    common(out)
    out.set_defaults(func=_guard(cmd_outcome))
    cn = cases.add_parser("counter-notice", help="record a counter-notice (17 U.S.C. 512(g)) and start its clock")
    cn.add_argument("case_id")
    cn.add_argument("--file", required=True, help="the counter-notice's text, as the platform forwarded it")
    cn.add_argument("--received", help="the day it was received (YYYY-MM-DD; default today)")
    common(cn)
    cn.set_defaults(func=_guard(cmd_counter_notice))
    notice = cases.add_parser("notice", help="print the case's notices exactly as they were sent")
    notice.add_argument("case_id")
    notice.add_argument("--raw", action="store_true", help="the bytes as sent (an e-mail's MIME, an API's JSON)")
    common(notice)
    notice.set_defaults(func=_guard(cmd_notice))

    notices = sub.add_parser("notices", help="notices waiting for a person (web-form-only platforms)").add_subparsers(
        dest="notices_command", required=True)
    manual = notices.add_parser("manual", help="the manual queue").add_subparsers(dest="manual_command", required=True)
    ml = manual.add_parser("list", help="notices to submit on a platform's web form, oldest first")
    ml.add_argument("--json", action="store_true")
    common(ml)
    ml.set_defaults(func=_guard(cmd_manual_list))
    md = manual.add_parser("done", help="record that a queued notice was submitted, with the platform's ticket")
    md.add_argument("case_id")
    md.add_argument("--ticket", required=True, help="the platform's ticket or confirmation id")
    md.add_argument("--slot", help="which notice, when the case has more than one waiting")
    common(md)
    md.set_defaults(func=_guard(cmd_manual_done))


def _guard(fn):
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except TargetError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2

    return run
