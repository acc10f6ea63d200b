"""`takedown cases ...`: look at cases and act on them, on the local stack or a deployed one.

Target selection: the running `takedown local up --expose-aws` by default (it writes
.takedown/local.json with its loopback endpoint) or `--stack NAME` for a deployed stack
(its CloudFormation outputs name the table and the workflow function).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from takedown_core.cases import Status

STATE_FILE = Path(".takedown") / "local.json"


class TargetError(RuntimeError):
    pass


def write_local_state(data: dict[str, Any]) -> Path:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps(data, indent=2))
    return STATE_FILE


def clear_local_state() -> None:
    STATE_FILE.unlink(missing_ok=True)


def local_state() -> dict[str, Any]:
    """The running `local up`'s state, if it exposes its embedded AWS; else TargetError saying why."""
    if not STATE_FILE.exists():
        raise TargetError("no local stack is running here: start `takedown local up --expose-aws` (or use --stack NAME)")
    st = json.loads(STATE_FILE.read_text())
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
        if c.status == Status.FAILED:  # a failed case always shows why
            f = c.failure or {}
            print(f"{'':<38}  cause: {f.get('error') or 'failed'}: {f.get('cause') or 'no cause recorded'}")
    print(f"{len(cases)} case(s)", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    client, table, _ = _target(args)
    repo = _repo(client, table)
    case = repo.get_case(args.case_id)
    if case is None:
        print(f"error: no case {args.case_id}", file=sys.stderr)
        return 1
    print(json.dumps({"case": case.to_dict(), "audit": [e.to_dict() for e in repo.audit_trail(args.case_id)]},
                     indent=2, default=str))
    return 0


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


def cmd_reassign(args: argparse.Namespace) -> int:
    payload = _workflow_action(args, "reassign", reviewer=args.to)
    if payload is None:
        return 1
    print(f"case {args.case_id}: review moved from {payload['previous']} to {payload['reviewer']}; "
          "a new link was mailed and the old one no longer works")
    return 0


def add_commands(sub) -> None:
    cases = sub.add_parser("cases", help="list, show and reassign cases").add_subparsers(dest="cases_command",
                                                                                        required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--stack", help="a deployed stack's name (default: the running `takedown local up --expose-aws`)")
        p.add_argument("--region", default=None)

    ls = cases.add_parser("list", help="cases, optionally by status")
    ls.add_argument("--status", choices=[s.value for s in Status])
    ls.add_argument("--json", action="store_true")
    common(ls)
    ls.set_defaults(func=_guard(cmd_list))
    show = cases.add_parser("show", help="one case with its audit trail")
    show.add_argument("case_id")
    common(show)
    show.set_defaults(func=_guard(cmd_show))
    re = cases.add_parser("reassign", help="give a waiting review to another configured reviewer")
    re.add_argument("case_id")
    re.add_argument("--to", required=True, help="the reviewer's address (must be in cdk.json reviewers)")
    common(re)
    re.set_defaults(func=_guard(cmd_reassign))
    out = cases.add_parser("outcome", help="record what the platform did with a sent notice")
    out.add_argument("case_id")
    out.add_argument("outcome", choices=["removed", "disputed"])
    out.add_argument("--note", help="e.g. the platform's reference or the counter-notice summary")
    common(out)
    out.set_defaults(func=_guard(cmd_outcome))


def _guard(fn):
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except TargetError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2

    return run
