"""The local runtime's one lock around moto's DynamoDB (takedown_local.moto_safety), under threads."""

from __future__ import annotations

import threading

from takedown_adapters.dynamo import DynamoCaseRepository
from takedown_core.cases import AuditEvent, Case, Source, Status
import pytest

from takedown_core.cases import ConcurrentChange
from takedown_local.moto_safety import cheap_transactions, serialised_dynamodb


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


def test_given_concurrent_transactions_when_serialised_then_none_fails_and_none_is_lost(dynamodb, create_cases_table, no_network):
    """Found under load (issue 13): moto's transact_write_items deep-copies the table while
    another thread writes it ('dictionary changed size during iteration')."""
    create_cases_table(dynamodb, "safety")
    repo = DynamoCaseRepository("safety", dynamodb)
    with serialised_dynamodb(), cheap_transactions():
        errors = _hammer(repo)
    assert errors == []
    assert len(repo.list_cases(Status.IN_REVIEW, limit=10_000)) == 8 * 40
    dynamodb.delete_table(TableName="safety")


def test_given_a_transaction_that_fails_a_condition_then_nothing_of_it_is_written(dynamodb, create_cases_table, no_network):
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


def test_given_the_linear_retention_check_then_sqs_still_drops_only_expired_messages(no_network):
    """The local runtime's cheaper retention check (moto computed every queue attribute, counts
    included, per candidate message: O(n^2) per receive) keeps moto's rule."""
    import os

    import boto3
    from moto import mock_aws
    from moto.sqs import models

    from takedown_local.moto_safety import linear_sqs_receive

    with pytest.MonkeyPatch.context() as mp:
        for k, v in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
            mp.setenv(k, v)
        with mock_aws(), linear_sqs_receive():
            sqs = boto3.client("sqs", region_name=os.environ["AWS_DEFAULT_REGION"])
            url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="old")
            sqs.send_message(QueueUrl=url, MessageBody="new")
            queue = models.sqs_backends["123456789012"]["eu-west-1"].get_queue("q")
            old = next(m for m in queue._messages if m.body == "old")
            old.sent_timestamp -= 61_000  # sent 61 s ago, with 60 s retention
            bodies = []
            for _ in range(2):  # moto drops an expired message mid-scan and looks at the rest next time
                bodies += [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                                  VisibilityTimeout=30).get("Messages", [])]
            assert bodies == ["new"]


def test_given_keep_mail_text_then_a_sent_mails_text_part_is_kept_beside_moto_s_html_body(no_network):
    import boto3
    from moto import mock_aws
    from moto.ses.models import ses_backends

    from takedown_local.moto_safety import keep_mail_text

    with mock_aws():
        ses = boto3.client("ses", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
        ses.verify_email_identity(EmailAddress="from@label.example")

        def send(**body):
            return ses.send_email(Source="from@label.example", Destination={"ToAddresses": ["a@label.example"]},
                                  Message={"Subject": {"Data": "S"}, "Body": body})["MessageId"]

        plain = send(Text={"Data": "only text"}, Html={"Data": "<p>only html</p>"})  # unpatched: text dropped
        with keep_mail_text():
            both = send(Text={"Data": "the text part"}, Html={"Data": "<p>the html part</p>"})
            html_only = send(Html={"Data": "<p>h</p>"})
        sent = {m.id: m for m in ses_backends["123456789012"]["eu-west-1"].sent_messages}
        assert (sent[both].body, sent[both].text) == ("<p>the html part</p>", "the text part")
        assert sent[html_only].text is None
        assert not hasattr(sent[plain], "text")
    from moto.ses.responses import EmailResponse

    assert EmailResponse.send_email.__name__ == "send_email" and "keep_mail_text" not in EmailResponse.send_email.__qualname__
