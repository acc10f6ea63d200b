"""The fingerprint Lambda's handler on moto: batches, partial failures, idempotency, DLQ.

Its input is the recorded SQS event (tests/events/sqs_s3_object_created.json: an S3
notification in an SQS record), with bucket, key, size and ETag put in per test."""

from __future__ import annotations

import json
import time

import pytest

from takedown_local import dlq_cli, driver
from takedown_local.lambda_patch import LambdaContext
from takedown_local.runtime import LocalStack
from tests.recorded_events import s3_notification as _s3_body, s3_test_event, sqs_record as _sqs_record

pytestmark = pytest.mark.timeout(180)


class _Fn:
    function_name, function_arn, memory_size, timeout = "fingerprint", "arn:aws:lambda:eu-west-1:1:function:f", 1769, 300


@pytest.fixture()
def stack(index_dir):
    with LocalStack("dev") as st:
        st.stop_pollers()  # the handler is called directly here: no background poller races us
        driver.publish_index(st, index_dir)
        yield st


def _invoke(records: list[dict]) -> dict:
    from takedown_handlers.ingest import handler

    return handler({"Records": records}, LambdaContext(_Fn()))


def test_given_the_pollers_stopped_then_a_queued_message_waits_in_the_queue(stack):
    sqs = stack.client("sqs")

    def queued() -> int:  # S3's test events may be there too, if no poller took them before it stopped
        return int(sqs.get_queue_attributes(QueueUrl=stack.ingest_queue_url,
                                            AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"])

    before = queued()
    sqs.send_message(QueueUrl=stack.ingest_queue_url, MessageBody="{not json")
    time.sleep(0.5)  # ten times the poller's idle wait
    assert queued() == before + 1


def test_given_a_batch_with_a_poison_message_then_only_it_is_reported_failed(stack, media):
    bucket = stack.partner_buckets["monitor-a"]
    key = "my song (1).mp3"
    stack.client("s3").upload_file(str(media["excerpt.mp3"]), bucket, key)
    head = stack.client("s3").head_object(Bucket=bucket, Key=key)
    good = _sqs_record(_s3_body(bucket, key, head["ContentLength"], head["ETag"].strip('"')))
    test_event = _sqs_record(s3_test_event())
    poison = _sqs_record("this is not json")

    result = _invoke([good, test_event, poison])

    assert result["batchItemFailures"] == [{"itemIdentifier": poison["messageId"]}]
    rec = stack.repository().get_upload(bucket, key)  # the URL-encoded key was decoded
    assert rec is not None and rec.outcome == "case" and rec.track_id == "ref-0"


def test_given_the_same_object_twice_then_one_submission_one_case_one_execution(stack, media):
    bucket = stack.partner_buckets["monitor-a"]
    s3 = stack.client("s3")
    s3.upload_file(str(media["excerpt.mp3"]), bucket, "a.mp3")
    head = s3.head_object(Bucket=bucket, Key="a.mp3")
    body = _s3_body(bucket, "a.mp3", head["ContentLength"], head["ETag"].strip('"'))

    _invoke([_sqs_record(body)])
    _invoke([_sqs_record(body), _sqs_record(body)])

    cases = stack.repository().list_cases()
    assert len(cases) == 1
    execs = stack.client("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    assert len(execs) == 1 and execs[0]["name"] == cases[0].case_id


def test_given_an_oversize_or_corrupt_upload_then_it_is_quarantined_with_its_reason(stack, media):
    bucket = stack.partner_buckets["monitor-a"]
    s3 = stack.client("s3")
    s3.put_object(Bucket=bucket, Key="broken.mp3", Body=b"\xff\xfb" + b"\x00garbage" * 50)
    s3.put_object(Bucket=bucket, Key="huge.wav", Body=b"RIFF" + b"\x00" * 100)
    big = int(stack.functions_env[stack.mappings[0].function_name]["MAX_UPLOAD_BYTES"]) + 1
    _invoke([
        _sqs_record(_s3_body(bucket, "broken.mp3", 410, "e1")),
        _sqs_record(_s3_body(bucket, "huge.wav", big, "e2")),
    ])
    repo = stack.repository()
    broken, huge = repo.get_upload(bucket, "broken.mp3"), repo.get_upload(bucket, "huge.wav")
    assert broken.outcome == "quarantined" and broken.reason in ("corrupt", "not_audio", "too_short", "empty")
    assert huge.outcome == "quarantined" and huge.reason == "oversize"
    q = stack.client("s3").list_objects_v2(Bucket=stack.quarantine_bucket)["Contents"]
    keys = {o["Key"] for o in q}
    assert f"{bucket}/broken.mp3" in keys and f"{bucket}/broken.mp3.reason.json" in keys
    reason = json.loads(s3.get_object(Bucket=stack.quarantine_bucket, Key=f"{bucket}/huge.wav.reason.json")["Body"].read())
    assert reason["reason"] == "oversize" and "limit" in reason["detail"]


def test_given_a_poison_message_on_the_queue_then_it_ends_in_the_dlq_with_an_alarm(index_dir):
    with LocalStack("dev") as st:
        driver.publish_index(st, index_dir)
        sqs = st.client("sqs")
        sqs.send_message(QueueUrl=st.ingest_queue_url, MessageBody="{not json")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and driver.dlq_depth(st) == 0:
            time.sleep(0.2)
        assert driver.dlq_depth(st) == 1
        letters = dlq_cli.peek(sqs, st.dlq_url, st.repository())  # listed with its reason, left in place
        assert len(letters) == 1 and letters[0].reason.startswith("not an S3 event notification")
        msg = sqs.receive_message(QueueUrl=st.dlq_url, AttributeNames=["All"])["Messages"][0]
        assert msg["Body"] == "{not json"
        alarms = st.client("cloudwatch").describe_alarms()["MetricAlarms"]
        dlq_name = st.dlq_url.rsplit("/", 1)[1]
        assert any(a["MetricName"] == "ApproximateNumberOfMessagesVisible"
                   and {"Name": "QueueName", "Value": dlq_name} in a["Dimensions"] for a in alarms)


def test_given_more_shards_than_one_function_holds_then_shard_functions_search_them_in_parallel(media, tmp_path):
    from takedown_core.engine import DEFAULT_PARAMS, IndexWriter
    from takedown_core.audio import decode_audio

    w = IndexWriter()
    for f in sorted(media["catalog"].glob("*.flac")):
        x = decode_audio(str(f), sample_rate=DEFAULT_PARAMS.sample_rate)
        w.add(f.stem, x, duration_s=x.size / DEFAULT_PARAMS.sample_rate, metadata={"title": f.stem})
    sharded = tmp_path / "sharded"
    w.write(sharded, shard_count=3)
    with LocalStack("dev", overrides={"match": {"shards_per_function": 1}}) as st:
        st.stop_pollers()
        assert st.functions_env[st.mappings[0].function_name]["SHARDS_PER_FUNCTION"] == "1"
        driver.publish_index(st, sharded, "v-sharded")
        bucket = st.partner_buckets["monitor-a"]
        s3 = st.client("s3")
        s3.upload_file(str(media["excerpt.mp3"]), bucket, "x.mp3")
        head = s3.head_object(Bucket=bucket, Key="x.mp3")
        result = _invoke([_sqs_record(_s3_body(bucket, "x.mp3", head["ContentLength"], head["ETag"].strip('"')))])
        assert result["batchItemFailures"] == []
        repo = st.repository()
        rec = repo.get_upload(bucket, "x.mp3")
        assert rec.outcome == "case" and rec.track_id == "ref-0"
        query = repo.get_case(rec.case_id).evidence["query"]
        assert query["index_version"] == "v-sharded"
        assert query["shards_searched"] == 3 and query["shard_invocations"] == 3
