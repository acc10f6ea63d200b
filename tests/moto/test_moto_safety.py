"""The local runtime's one lock around moto's DynamoDB (takedown_local.moto_safety), under threads."""

from __future__ import annotations

import threading

from takedown_adapters.dynamo import DynamoCaseRepository
from takedown_core.cases import AuditEvent, Case, Source, Status
import pytest

from takedown_core.cases import ConcurrentChange
from takedown_local.moto_safety import cheap_transactions, serialised_dynamodb
from tests.moto.test_repository_contract import create_cases_table, dynamodb  # noqa: F401 - fixture


def _case(n: int) -> Case:
    return Case.open(track_id=f"t{n % 7}", work={"title": "T"}, evidence={"score": 1.0}, policy={},
                     submission=f"{n:064d}"[-64:],
                     source=Source(partner="p", platform="youtube", url=f"https://youtu.be/v{n}", bucket="b", key="k"))


def _hammer(repo: DynamoCaseRepository, workers: int = 8, per_worker: int = 40) -> list[BaseException]:
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            for i in range(per_worker):
                case = _case(w * 1000 + i)
                repo.create_case(case, AuditEvent(case.case_id, "2026-11-30T00:00:00.000Z", "x", "opened", None,
                                                  "DETECTED"))
                repo.transition(case.case_id, Status.DETECTED, Status.IN_REVIEW,
                                AuditEvent(case.case_id, "2026-11-30T00:00:01.000Z", "x", "review", "DETECTED",
                                           "IN_REVIEW"))
        except BaseException as e:  # noqa: BLE001 - collected and asserted on
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_given_concurrent_transactions_when_serialised_then_none_fails_and_none_is_lost(dynamodb, no_network):  # noqa: F811
    """Found under load (issue 13): moto's transact_write_items deep-copies the table while
    another thread writes it ('dictionary changed size during iteration')."""
    create_cases_table(dynamodb, "safety")
    repo = DynamoCaseRepository("safety", dynamodb)
    with serialised_dynamodb(), cheap_transactions():
        errors = _hammer(repo)
    assert errors == []
    assert len(repo.list_cases(Status.IN_REVIEW, limit=10_000)) == 8 * 40
    dynamodb.delete_table(TableName="safety")


def test_given_a_transaction_that_fails_a_condition_then_nothing_of_it_is_written(dynamodb, no_network):  # noqa: F811
    """The cheap rollback restores exactly what moto's table copy restored."""
    create_cases_table(dynamodb, "rollback")
    repo = DynamoCaseRepository("rollback", dynamodb)
    with serialised_dynamodb(), cheap_transactions():
        case = _case(1)
        opened = AuditEvent(case.case_id, "2026-11-30T00:00:00.000Z", "x", "opened", None, "DETECTED")
        repo.create_case(case, opened)
        # the case's Put passes; the audit Put's condition (attribute_not_exists) fails
        item = repo._case_item(case)
        item["status"] = {"S": "IN_REVIEW"}
        audit = repo._audit_put(opened)
        existing_sk = dynamodb.query(TableName="rollback", KeyConditionExpression="pk = :p AND begins_with(sk, :a)",
                                     ExpressionAttributeValues={":p": {"S": f"CASE#{case.case_id}"},
                                                                ":a": {"S": "AUDIT#"}})["Items"][0]["sk"]
        audit["Put"]["Item"]["sk"] = existing_sk
        with pytest.raises(Exception, match="TransactionCanceled|ConditionalCheckFailed"):
            dynamodb.transact_write_items(TransactItems=[
                {"Put": {"TableName": "rollback", "Item": item}}, audit])
        assert repo.get_case(case.case_id).status is Status.DETECTED  # the first Put was undone
        assert len(repo.audit_trail(case.case_id)) == 1
        with pytest.raises(ConcurrentChange):
            repo.transition(case.case_id, Status.IN_REVIEW, Status.APPROVED, opened)
    dynamodb.delete_table(TableName="rollback")
