"""DynamoDB implementation of CaseRepository: one table, conditional writes everywhere.

Item layout (pk / sk):
  CASE#<id> / CASE                 the case; `data` holds it as JSON, `status` and `version`
                                   are top-level so writes can be conditional on them
  CASE#<id> / AUDIT#<at>#<n>       one audit event (append-only: put if absent)
  CASE#<id> / NOTICE#<channel>     one notice per channel (claimed before sending)
  REVIEW#<id> / REVIEW             opaque review id -> task token (TTL)
  SUB#<sha256> / SUB               what was decided about these bytes
  UPLOAD#<bucket>/<key> / UPLOAD   what happened to this object
  UPLOAD#<bucket>/<key> / FAILURE  why it could not be processed yet (latest attempt)
GSI by-status: gsi1pk = STATUS#<status>, gsi1sk = updated_at (cases only).
GSI by-reviewer (sparse): gsi2pk = REVIEWER#<reviewer>, gsi2sk = <created_at>#<case id>, on a
case only while it is IN_REVIEW with a reviewer: a reviewer's queue. Every case write puts the
whole item, so a case leaves the index with the write that moves it out of IN_REVIEW. A case
last written before this index existed appears in it at its next write.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError

from takedown_core.cases import AuditEvent, Case, ConcurrentChange, Status, check_transition, normalize_uploader, utcnow
from takedown_core.ports import CaseExists, Review, ReviewAlreadyUsed, Submission, UploadRecord


def _is_conditional_failure(err: ClientError) -> bool:
    code = err.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = err.response.get("CancellationReasons") or []
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons) or not reasons
    return False


class DynamoCaseRepository:
    def __init__(self, table_name: str, client: Any) -> None:
        self.table = table_name
        self.ddb = client

    # ---- cases -------------------------------------------------------------------------
    def _case_item(self, case: Case) -> dict[str, Any]:
        item = {
            "pk": {"S": f"CASE#{case.case_id}"},
            "sk": {"S": "CASE"},
            "status": {"S": case.status.value},
            "version": {"N": str(case.version)},
            "data": {"S": json.dumps(case.to_dict(), sort_keys=True)},
            "gsi1pk": {"S": f"STATUS#{case.status.value}"},
            "gsi1sk": {"S": f"{case.updated_at}#{case.case_id}"},
        }
        if case.status == Status.IN_REVIEW and case.reviewer:
            item["gsi2pk"] = {"S": f"REVIEWER#{case.reviewer}"}
            item["gsi2sk"] = {"S": f"{case.created_at}#{case.case_id}"}
        return item

    def _audit_put(self, event: AuditEvent) -> dict[str, Any]:
        # The ns clock keeps events written in the same millisecond in the order they were written.
        sk = f"AUDIT#{event.at}#{time.time_ns():020d}#{secrets.token_hex(2)}"
        return {
            "Put": {
                "TableName": self.table,
                "Item": {
                    "pk": {"S": f"CASE#{event.case_id}"},
                    "sk": {"S": sk},
                    "data": {"S": json.dumps(event.to_dict(), sort_keys=True)},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def create_case(self, case: Case, event: AuditEvent) -> None:
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._case_item(case),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    self._audit_put(event),
                ]
            )
        except ClientError as err:
            if _is_conditional_failure(err):
                raise CaseExists(case.case_id) from err
            raise

    def get_case(self, case_id: str) -> Case | None:
        r = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": f"CASE#{case_id}"}, "sk": {"S": "CASE"}}, ConsistentRead=True
        )
        item = r.get("Item")
        return Case.from_dict(json.loads(item["data"]["S"])) if item else None

    def transition(self, case_id, expected, new, event, updates=None) -> Case:
        current = self.get_case(case_id)
        if current is None or current.status != expected:
            raise ConcurrentChange(case_id, expected, current.status if current else None)
        check_transition(case_id, expected, new)
        data = current.to_dict()
        data.update(updates or {})
        data.update(status=new.value, updated_at=utcnow(), version=current.version + 1)
        changed = Case.from_dict(data)
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._case_item(changed),
                            "ConditionExpression": "#s = :expected AND #v = :version",
                            "ExpressionAttributeNames": {"#s": "status", "#v": "version"},
                            "ExpressionAttributeValues": {
                                ":expected": {"S": expected.value},
                                ":version": {"N": str(current.version)},
                            },
                        }
                    },
                    self._audit_put(event),
                ]
            )
        except ClientError as err:
            if _is_conditional_failure(err):
                now = self.get_case(case_id)
                raise ConcurrentChange(case_id, expected, now.status if now else None) from err
            raise
        return changed

    def audit_trail(self, case_id: str) -> list[AuditEvent]:
        items = self._query_prefix(f"CASE#{case_id}", "AUDIT#")
        return [AuditEvent(**json.loads(i["data"]["S"])) for i in items]

    def append_audit(self, event: AuditEvent) -> None:
        put = self._audit_put(event)["Put"]
        self.ddb.put_item(**put)

    def list_cases(self, status: Status | None = None, limit: int = 1000,
                   updated_before: str | None = None) -> list[Case]:
        items: list[dict[str, Any]] = []
        if status is not None:
            kw: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": "by-status",
                "KeyConditionExpression": "gsi1pk = :p",
                "ExpressionAttributeValues": {":p": {"S": f"STATUS#{status.value}"}},
            }
            if updated_before is not None:  # the index's sort key is "<updated_at>#<case id>"
                kw["KeyConditionExpression"] += " AND gsi1sk < :before"
                kw["ExpressionAttributeValues"][":before"] = {"S": updated_before}
            pages = self._paginate("query", kw)
        else:
            if updated_before is not None:
                raise ValueError("updated_before needs a status (it is a key condition on the by-status index)")
            kw = {
                "TableName": self.table,
                "FilterExpression": "sk = :s",
                "ExpressionAttributeValues": {":s": {"S": "CASE"}},
            }
            pages = self._paginate("scan", kw)
        for page in pages:
            items.extend(page)
            if len(items) >= limit:
                break
        cases = [Case.from_dict(json.loads(i["data"]["S"])) for i in items[:limit]]
        return sorted(cases, key=lambda c: c.created_at)

    def cases_for_reviewer(self, reviewer: str, limit: int = 200) -> list[Case]:
        kw: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "by-reviewer",
            "KeyConditionExpression": "gsi2pk = :p",
            "ExpressionAttributeValues": {":p": {"S": f"REVIEWER#{reviewer}"}},
            "ScanIndexForward": True,  # oldest first: the sort key starts with the opening time
        }
        items: list[dict[str, Any]] = []
        for page in self._paginate("query", kw):
            items.extend(page)
            if len(items) >= limit:
                break
        cases = [Case.from_dict(json.loads(i["data"]["S"])) for i in items[:limit]]
        # an index is eventually consistent: a case that left review a moment ago may still be in it
        return [c for c in cases if c.status == Status.IN_REVIEW and c.reviewer == reviewer]

    def _paginate(self, op: str, kw: dict[str, Any]):
        while True:
            r = getattr(self.ddb, op)(**kw)
            yield r.get("Items", [])
            if "LastEvaluatedKey" not in r:
                return
            kw = {**kw, "ExclusiveStartKey": r["LastEvaluatedKey"]}

    def _query_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        kw = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
            "ExpressionAttributeValues": {":p": {"S": pk}, ":s": {"S": prefix}},
            "ConsistentRead": True,
        }
        out: list[dict[str, Any]] = []
        for page in self._paginate("query", kw):
            out.extend(page)
        return out

    # ---- reviews -----------------------------------------------------------------------
    def put_review(self, review: Review, ttl_epoch: int) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"REVIEW#{review.review_id}"},
                "sk": {"S": "REVIEW"},
                "used": {"BOOL": review.used},
                "data": {"S": json.dumps(asdict(review), sort_keys=True)},
                "ttl": {"N": str(int(ttl_epoch))},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_review(self, review_id: str) -> Review | None:
        r = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"REVIEW#{review_id}"}, "sk": {"S": "REVIEW"}},
            ConsistentRead=True,
        )
        item = r.get("Item")
        if not item:
            return None
        review = Review(**json.loads(item["data"]["S"]))
        review.used = item["used"]["BOOL"]
        return review

    def use_review(self, review_id: str, decision: dict[str, Any]) -> Review:
        review = self.get_review(review_id)
        if review is None:
            raise ReviewAlreadyUsed(review_id)
        review.used, review.decision = True, decision
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"REVIEW#{review_id}"}, "sk": {"S": "REVIEW"}},
                UpdateExpression="SET used = :t, #d = :d",
                ConditionExpression="used = :f",
                ExpressionAttributeNames={"#d": "data"},
                ExpressionAttributeValues={
                    ":t": {"BOOL": True},
                    ":f": {"BOOL": False},
                    ":d": {"S": json.dumps(asdict(review), sort_keys=True)},
                },
            )
        except ClientError as err:
            if _is_conditional_failure(err):
                raise ReviewAlreadyUsed(review_id) from err
            raise
        return review

    # ---- submissions and uploads -------------------------------------------------------
    def get_submission(self, content_hash: str) -> Submission | None:
        r = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": f"SUB#{content_hash}"}, "sk": {"S": "SUB"}}, ConsistentRead=True
        )
        item = r.get("Item")
        return Submission(**json.loads(item["data"]["S"])) if item else None

    def put_submission(self, submission: Submission) -> None:
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"SUB#{submission.content_hash}"},
                    "sk": {"S": "SUB"},
                    "data": {"S": json.dumps(asdict(submission), sort_keys=True)},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as err:
            if not _is_conditional_failure(err):
                raise

    def put_upload(self, upload: UploadRecord) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"UPLOAD#{upload.bucket}/{upload.key}"},
                "sk": {"S": "UPLOAD"},
                "data": {"S": json.dumps(asdict(upload), sort_keys=True)},
            },
        )

    def get_upload(self, bucket: str, key: str) -> UploadRecord | None:
        r = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"UPLOAD#{bucket}/{key}"}, "sk": {"S": "UPLOAD"}},
            ConsistentRead=True,
        )
        item = r.get("Item")
        return UploadRecord(**json.loads(item["data"]["S"])) if item else None

    def record_ingest_failure(self, bucket: str, key: str, failure: dict[str, Any]) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"UPLOAD#{bucket}/{key}"},
                "sk": {"S": "FAILURE"},
                "data": {"S": json.dumps(failure, sort_keys=True, default=str)},
            },
        )

    def get_ingest_failure(self, bucket: str, key: str) -> dict[str, Any] | None:
        r = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"UPLOAD#{bucket}/{key}"}, "sk": {"S": "FAILURE"}},
            ConsistentRead=True,
        )
        item = r.get("Item")
        return json.loads(item["data"]["S"]) if item else None

    # ---- stay-down ---------------------------------------------------------------------
    def mark_stay_down(self, track_id: str, content_hash: str, case_id: str) -> None:
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"STAYDOWN#{track_id}#{content_hash}"},
                    "sk": {"S": "STAYDOWN"},
                    "case_id": {"S": case_id},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as err:
            if not _is_conditional_failure(err):
                raise

    def get_stay_down(self, track_id: str, content_hash: str) -> str | None:
        r = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"STAYDOWN#{track_id}#{content_hash}"}, "sk": {"S": "STAYDOWN"}},
            ConsistentRead=True,
        )
        item = r.get("Item")
        return item["case_id"]["S"] if item else None

    # ---- notices -----------------------------------------------------------------------
    def claim_notice(self, case_id: str, channel: str, notice: dict[str, Any]) -> bool:
        """Claim the (case, channel) slot. A failed or deferred earlier attempt may be retried; a
        slot that is 'sending', 'sent', 'queued', 'rejected' or 'in_doubt' is never claimed
        twice (no double notice). The earlier attempt's fields are kept under the new ones."""
        previous = self.get_notice(case_id, channel) or {}
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"CASE#{case_id}"},
                    "sk": {"S": f"NOTICE#{channel}"},
                    "state": {"S": "sending"},
                    "data": {"S": json.dumps({**previous, **notice, "state": "sending"}, sort_keys=True)},
                },
                ConditionExpression="attribute_not_exists(pk) OR #st IN (:failed, :deferred)",
                ExpressionAttributeNames={"#st": "state"},
                ExpressionAttributeValues={":failed": {"S": "failed"}, ":deferred": {"S": "deferred"}},
            )
            return True
        except ClientError as err:
            if _is_conditional_failure(err):
                return False
            raise

    def complete_notice(self, case_id: str, channel: str, result: dict[str, Any]) -> None:
        current = self.get_notice(case_id, channel) or {}
        current.update(result)
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"CASE#{case_id}"},
                "sk": {"S": f"NOTICE#{channel}"},
                "state": {"S": current.get("state", "sent")},
                "data": {"S": json.dumps(current, sort_keys=True)},
            },
        )

    def get_notice(self, case_id: str, channel: str) -> dict[str, Any] | None:
        r = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"CASE#{case_id}"}, "sk": {"S": f"NOTICE#{channel}"}},
            ConsistentRead=True,
        )
        item = r.get("Item")
        return json.loads(item["data"]["S"]) if item else None

    def list_notices(self, case_id: str) -> list[dict[str, Any]]:
        items = self._query_prefix(f"CASE#{case_id}", "NOTICE#")
        return [{**json.loads(it["data"]["S"]), "slot": it["sk"]["S"][len("NOTICE#"):]} for it in items]

    # ---- the manual queue: one partition, an item per waiting notice -----------------------
    def queue_manual(self, entry: dict[str, Any]) -> None:
        self.ddb.put_item(
            TableName=self.table,
            Item={"pk": {"S": "MANUALQ"}, "sk": {"S": f"{entry['case_id']}#{entry['slot']}"},
                  "queued_at": {"S": str(entry.get("queued_at", ""))},
                  "data": {"S": json.dumps(entry, sort_keys=True)}},
        )

    def list_manual(self) -> list[dict[str, Any]]:
        kw = {"TableName": self.table, "KeyConditionExpression": "pk = :p",
              "ExpressionAttributeValues": {":p": {"S": "MANUALQ"}}, "ConsistentRead": True}
        entries = [json.loads(it["data"]["S"]) for page in self._paginate("query", kw) for it in page]
        return sorted(entries, key=lambda e: (e.get("queued_at", ""), e.get("case_id", "")))

    def remove_manual(self, case_id: str, slot: str) -> bool:
        r = self.ddb.delete_item(TableName=self.table, Key={"pk": {"S": "MANUALQ"}, "sk": {"S": f"{case_id}#{slot}"}},
                                 ReturnValues="ALL_OLD")
        return bool(r.get("Attributes"))

    # ---- repeat uploaders: an item per (platform, uploader, case), counted by a query ----------
    def count_notice(self, platform: str, uploader: str, case_id: str) -> None:
        self.ddb.put_item(TableName=self.table, Item={
            "pk": {"S": f"UPLOADER#{platform}#{normalize_uploader(uploader)}"}, "sk": {"S": f"CASE#{case_id}"},
            "at": {"S": utcnow()}})

    def notices_for(self, platform: str, uploader: str) -> int:
        kw = {"TableName": self.table, "KeyConditionExpression": "pk = :p", "Select": "COUNT",
              "ExpressionAttributeValues": {":p": {"S": f"UPLOADER#{platform}#{normalize_uploader(uploader)}"}}}
        return sum(page_count for page_count in self._count_pages(kw))

    def _count_pages(self, kw: dict[str, Any]):
        while True:
            r = self.ddb.query(**kw)
            yield r.get("Count", 0)
            if "LastEvaluatedKey" not in r:
                return
            kw = {**kw, "ExclusiveStartKey": r["LastEvaluatedKey"]}

    # ---- rate limits: a counter item per (key, fixed window), expired by TTL --------------------
    def take_rate_slot(self, key: str, limit: int, per_seconds: int, now: float) -> float:
        """One atomic conditional ADD per attempt, so every sender shares the window's count."""
        window = int(now // per_seconds) * per_seconds
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"RATE#{key}"}, "sk": {"S": f"W#{window}"}},
                UpdateExpression="ADD #n :one SET #ttl = :ttl",
                ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
                ExpressionAttributeNames={"#n": "n", "#ttl": "ttl"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": str(int(limit))},
                                           ":ttl": {"N": str(window + per_seconds + 3600)}},
            )
            return 0.0
        except ClientError as err:
            if _is_conditional_failure(err):
                return window + per_seconds - now
            raise
