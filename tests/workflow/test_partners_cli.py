"""`takedown partners check|report` on the embedded stack, through the command line, as ops
would run them against `takedown local up --expose-aws`."""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from takedown_local import cases_cli, cli, driver
from takedown_local.partners_cli import CHECK_REF
from takedown_local.runtime import LocalStack

from tests.workflow.conftest import wait_until

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def up(index_dir, tmp_path_factory):
    """The dev stack with the test catalogue published, its AWS served on loopback and its state
    written where `takedown ...` finds it (as `local up --expose-aws` does)."""
    before = os.environ.get("TAKEDOWN_STATE_DIR")
    os.environ["TAKEDOWN_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))  # this module's own
    try:
        with LocalStack("dev") as stack:
            driver.publish_index(stack, index_dir)
            endpoint = stack.serve_aws(0)
            cases_cli.write_local_state({
                "endpoint": endpoint, "region": stack.region, "table": stack.table_name,
                "workflow_function": stack.function_name("takedown_handlers.workflow.handler"),
                "review_base_url": stack.review_base_url, "partner_buckets": stack.partner_buckets,
                "ingest_queue_url": stack.ingest_queue_url, "dlq_url": stack.dlq_url,
                "quarantine_bucket": stack.quarantine_bucket, "env": stack.env_name})
            yield stack
            cases_cli.clear_local_state()
    finally:
        if before is None:
            os.environ.pop("TAKEDOWN_STATE_DIR", None)
        else:
            os.environ["TAKEDOWN_STATE_DIR"] = before


def _keys(stack, bucket: str, prefix: str = "") -> list[str]:
    return [o["Key"] for o in stack.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def _items(stack, prefix: str) -> list[str]:
    items = stack.client("dynamodb").scan(TableName=stack.table_name)["Items"]
    return [i["pk"]["S"] for i in items if i["pk"]["S"].startswith(prefix)]


def test_given_a_configured_partner_when_checked_then_every_step_passes_and_nothing_is_left(up, capsys):
    bucket = up.partner_buckets["monitor-a"]
    uploads_before, subs_before = _items(up, "UPLOAD#"), _items(up, "SUB#")

    code = cli.main(["partners", "check", "monitor-a"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert f"ok    landing bucket {bucket} exists" in out
    assert "ok    new objects notify the ingest queue" in out
    assert "ok    objects the partner writes are owned by this account (BucketOwnerEnforced)" in out
    assert "ok    the bucket policy lets 111122223333 write (s3:AbortMultipartUpload, s3:PutObject)" in out
    assert "ok    outcome recorded: no_match" in out
    assert out.rstrip().endswith("monitor-a: ready")
    key = re.search(rf"s3://{bucket}/({CHECK_REF}/\S+\.flac)", out).group(1)
    # the test objects and everything the ingest recorded about them are gone
    assert _keys(up, bucket, CHECK_REF) == []
    assert _items(up, "UPLOAD#") == uploads_before and f"UPLOAD#{bucket}/{key}" not in _items(up, "UPLOAD#")
    assert _items(up, "SUB#") == subs_before
    assert up.repository().list_cases() == []
    assert _keys(up, up.quarantine_bucket, f"{bucket}/{CHECK_REF}") == []


def test_given_an_arn_principal_when_checked_then_the_policy_step_names_the_role(up, capsys):
    assert cli.main(["partners", "check", "platform-b", "--timeout", "120"]) == 0
    out = capsys.readouterr().out
    assert "ok    the bucket policy lets arn:aws:iam::444455556666:role/takedown-uploader write" in out


def test_given_a_broken_setup_when_checked_then_each_broken_step_fails_and_no_upload_is_tried(up, capsys):
    s3 = up.client("s3")
    bucket = up.partner_buckets["monitor-a"]
    policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    notification = s3.get_bucket_notification_configuration(Bucket=bucket)
    notification.pop("ResponseMetadata", None)
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    try:
        code = cli.main(["partners", "check", "monitor-a"])
    finally:
        s3.put_bucket_policy(Bucket=bucket, Policy=policy)
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=notification)
        s3.put_bucket_ownership_controls(Bucket=bucket,
                                         OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})

    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  no s3:ObjectCreated notification from " + bucket in out
    assert "FAIL  bucket policy of " + bucket + ": NoSuchBucketPolicy" in out
    assert f"FAIL  object ownership of {bucket} is ['ObjectWriter'], not BucketOwnerEnforced" in out
    assert "no test upload" in out and "monitor-a: NOT ready" in out
    assert _keys(up, bucket, CHECK_REF) == []


def test_given_unknown_partner_or_no_target_then_one_plain_line(up, capsys, tmp_path, monkeypatch):
    assert cli.main(["partners", "check", "nobody"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: unknown partner 'nobody'; environment dev has")
    monkeypatch.setenv("TAKEDOWN_STATE_DIR", str(tmp_path))  # no local stack recorded there
    assert cli.main(["partners", "report", "monitor-a"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no local stack is running" in err
    assert cli.main(["partners", "check", "monitor-a", "--stack", "Takedown-dev-Takedown", "--region", "eu-west-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")  # no credentials, or no such stack: one line


BAD = {
    # key: (sidecar, media, reason, field)
    "feed/tags-wrong.mp3": ('{"title": "x", "tags": 5}', "excerpt.mp3", "bad_sidecar", "tags"),
    "feed/unknown-field.mp3": ('{"titel": "typo"}', "excerpt.mp3", "bad_sidecar", "titel"),
    "feed/myspace.mp3": ('{"platform": "myspace"}', "excerpt.mp3", "unknown_platform", "platform"),
    "feed/error-page.mp3": (None, b"<html>Error 503</html>", "not_audio", None),
    "feed/empty.m4a": (None, b"", "empty", None),
}


def _put(stack, bucket: str, key: str, sidecar: str | None, media, files) -> None:
    s3 = stack.client("s3")
    if sidecar is not None:
        s3.put_object(Bucket=bucket, Key=key.rsplit(".", 1)[0] + ".json", Body=sidecar.encode())
    s3.put_object(Bucket=bucket, Key=key, Body=files[media].read_bytes() if isinstance(media, str) else media)


def test_given_bad_uploads_when_reported_then_each_quarantine_with_its_reason_field_and_detail(up, media, capsys):
    a, b = up.partner_buckets["monitor-a"], up.partner_buckets["platform-b"]
    repo = up.repository()
    for key, (sidecar, body, _, _) in BAD.items():
        _put(up, a, key, sidecar, body, media)
    _put(up, b, "other/not-theirs.mp3", '{"tags": 5}', "excerpt.mp3", media)       # another partner's
    _put(up, a, "feed/fine.mp3", '{"title": "ok"}', "unrelated.ogg", media)          # not quarantined
    for bucket, key in [*((a, k) for k in BAD), (b, "other/not-theirs.mp3"), (a, "feed/fine.mp3")]:
        wait_until(lambda: repo.get_upload(bucket, key), 120, f"the outcome of {key}")

    assert cli.main(["partners", "report", "monitor-a", "--format", "json"]) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}

    assert set(rows) == set(BAD)
    for key, (_, _, reason, field) in BAD.items():
        assert (rows[key]["reason"], rows[key]["field"]) == (reason, field), key
        assert rows[key]["detail"] == repo.get_upload(a, key).extra["detail"]
        assert rows[key]["at"].startswith(time.strftime("%Y-%m-%d", time.gmtime()))
    assert rows["feed/tags-wrong.mp3"]["detail"] == "sidecar field 'tags' must be a list of strings, got int (number)"
    assert "'titel'" in rows["feed/unknown-field.mp3"]["detail"]

    # the same in text and CSV; --since tomorrow finds none
    assert cli.main(["partners", "report", "monitor-a"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{len(BAD)} quarantined upload(s) of monitor-a:")
    assert ("bad_sidecar (sidecar field tags): sidecar field 'tags' must be a list of strings, got int (number)"
            in text)
    assert cli.main(["partners", "report", "monitor-a", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "at,key,reason,field,detail" and len(lines) == 1 + len(BAD)
    assert cli.main(["partners", "report", "monitor-a", "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out.startswith("0 quarantined upload(s) of monitor-a")
    assert cli.main(["partners", "report", "platform-b", "--format", "json"]) == 0
    assert [r["key"] for r in json.loads(capsys.readouterr().out)] == ["other/not-theirs.mp3"]

    # delivered again, fixed (sidecar first, then the media under the same key with new bytes): it drops out
    _put(up, a, "feed/error-page.mp3", '{"title": "fixed"}', "unrelated.ogg", media)
    wait_until(lambda: repo.get_upload(a, "feed/error-page.mp3").outcome != "quarantined", 120, "the re-delivery")
    assert cli.main(["partners", "report", "monitor-a", "--format", "json"]) == 0
    assert "feed/error-page.mp3" not in {r["key"] for r in json.loads(capsys.readouterr().out)}
