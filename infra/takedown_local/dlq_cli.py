"""`takedown dlq ...`: the ingest dead-letter queue, with each message's reason, and replay.

A message lands in the DLQ after the ingest function failed on it ``INGEST_MAX_RECEIVES``
times (an alarm fires). Before each retry the function records why, per object
(``record_ingest_failure``), so a dead letter can be listed with its reason and, once the
cause is fixed (an index published, a bug deployed away), put back on the ingest queue.

Target selection as for `takedown cases`: the running `takedown local up --expose-aws`, or
``--stack NAME`` for a deployed stack (its outputs name the queues and the table).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from .cases_cli import TargetError, _guard, _target_session

MAX_PEEK = 1000  # messages listed at most in one call


@dataclass
class DeadLetter:
    message_id: str
    receipt: str
    body: str
    objects: list[dict[str, Any]]     # (bucket, key) named by the S3 notification, with their recorded failure
    reason: str                       # one line: the latest recorded failure, or why there is none


def _objects(body: str) -> list[dict[str, Any]] | None:
    from takedown_handlers.ingest import s3_objects

    try:
        return s3_objects(body)
    except Exception:  # noqa: BLE001 - a poison body is exactly what we are listing
        return None


def peek(sqs: Any, dlq_url: str, repo: Any, *, limit: int = MAX_PEEK) -> list[DeadLetter]:
    """The DLQ's messages with their reasons, left in the queue (received with visibility 0)."""
    seen: dict[str, DeadLetter] = {}
    empty = 0
    while len(seen) < limit and empty < 3:
        got = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                  AttributeNames=["All"]).get("Messages", [])
        new = [m for m in got if m["MessageId"] not in seen]
        empty = 0 if new else empty + 1
        for m in new:
            objs = _objects(m["Body"])
            if objs is None:
                seen[m["MessageId"]] = DeadLetter(m["MessageId"], m["ReceiptHandle"], m["Body"], [],
                                                  "not an S3 event notification (malformed message body)")
                continue
            reasons = []
            for o in objs:
                o["failure"] = repo.get_ingest_failure(o["bucket"], o["key"])
                f = o["failure"]
                reasons.append(f"{o['key']}: {f['error']}: {f['message']}" if f else f"{o['key']}: no failure recorded")
            seen[m["MessageId"]] = DeadLetter(m["MessageId"], m["ReceiptHandle"], m["Body"], objs,
                                              "; ".join(reasons) or "names no object")
    return list(seen.values())


def replay(sqs: Any, dlq_url: str, queue_url: str, message_ids: set[str] | None = None) -> list[str]:
    """Move dead letters (all, or those in ``message_ids``) back to the ingest queue; returns
    the ids moved. Each is sent to the queue before it is deleted from the DLQ, so a crash in
    between leaves a duplicate (which ingest's idempotency absorbs), never a loss."""
    moved: list[str] = []
    empty = 0
    while empty < 3:
        got = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
        empty = 0 if got else empty + 1
        for m in got:
            if message_ids is not None and m["MessageId"] not in message_ids:
                sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
                continue
            sqs.send_message(QueueUrl=queue_url, MessageBody=m["Body"])
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=m["ReceiptHandle"])
            moved.append(m["MessageId"])
        if message_ids is not None and set(moved) >= message_ids:
            break
    return moved


def _queues(args: argparse.Namespace) -> tuple[Any, Any, str, str]:
    client, table, outputs = _target_session(args)
    try:
        return client, table, outputs["IngestDLQUrl"], outputs["IngestQueueUrl"]
    except KeyError as e:
        raise TargetError(f"the target names no {e} (deploy / restart the current version)") from None


def cmd_list(args: argparse.Namespace) -> int:
    from takedown_adapters.dynamo import DynamoCaseRepository

    client, table, dlq, _ = _queues(args)
    letters = peek(client("sqs"), dlq, DynamoCaseRepository(table, client("dynamodb")))
    if args.json:
        print(json.dumps([{"message_id": d.message_id, "reason": d.reason, "objects": d.objects} for d in letters],
                         indent=2, default=str))
    else:
        for d in letters:
            print(f"{d.message_id}  {d.reason}")
    print(f"{len(letters)} dead letter(s)", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    if not args.all and not args.message_ids:
        print("error: name message ids (from `takedown dlq list`) or --all", file=sys.stderr)
        return 2
    client, _, dlq, queue = _queues(args)
    moved = replay(client("sqs"), dlq, queue, None if args.all else set(args.message_ids))
    print(f"replayed {len(moved)} message(s) onto the ingest queue")
    missing = set(args.message_ids or ()) - set(moved)
    if missing:
        print(f"error: not in the dead-letter queue: {sorted(missing)}", file=sys.stderr)
        return 1
    return 0


def add_commands(sub) -> None:
    dlq = sub.add_parser("dlq", help="the ingest dead-letter queue: list with reasons, replay").add_subparsers(
        dest="dlq_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--stack", help="a deployed stack's name (default: the local stack of `takedown local up`)")
        p.add_argument("--region", default=None)

    ls = dlq.add_parser("list", help="dead letters with the reason each object failed")
    ls.add_argument("--json", action="store_true")
    common(ls)
    ls.set_defaults(func=_guard(cmd_list))
    rp = dlq.add_parser("replay", help="put dead letters back on the ingest queue (after fixing the cause)")
    rp.add_argument("message_ids", nargs="*")
    rp.add_argument("--all", action="store_true")
    common(rp)
    rp.set_defaults(func=_guard(cmd_replay))
