"""The catalogue index missing, partial or unknown: the matcher refuses and alarms, uploads wait
(they are never marked "no match"), dead letters keep their reason and replay (issue 13)."""

from __future__ import annotations


import pytest

from takedown_local import driver, dlq_cli
from takedown_local.runtime import LocalStack

from tests.workflow.conftest import uploads_dir, wait_until

pytestmark = pytest.mark.timeout(180)


def test_given_no_index_when_an_upload_lands_then_it_waits_and_is_matched_once_one_is_published(
        tmp_path, media, index_dir):
    with LocalStack("dev") as stack:
        dropped = driver.drop_uploads(stack, uploads_dir(tmp_path, media, ["excerpt.mp3"]))
        repo = stack.repository()
        u = dropped[0]
        failure = wait_until(lambda: repo.get_ingest_failure(u.bucket, u.key), 30, "the first failed attempt")
        assert failure["error"] == "NoIndexPublished" and failure["index_unavailable"] is True
        assert repo.get_upload(u.bucket, u.key) is None  # waiting, not "no match"
        driver.publish_index(stack, index_dir)
        rec = wait_until(lambda: repo.get_upload(u.bucket, u.key), 30, "the retried upload")
        assert (rec.outcome, rec.track_id) == ("case", "ref-0")
        assert driver.dlq_depth(stack) == 0


def test_given_the_index_stays_missing_then_the_dead_letter_says_why_and_replays_after_the_fix(
        tmp_path, media, index_dir):
    with LocalStack("dev") as stack:
        dropped = driver.drop_uploads(stack, uploads_dir(tmp_path, media, ["excerpt.mp3"]))
        u = dropped[0]
        wait_until(lambda: driver.dlq_depth(stack) == 1, 60, "the message to reach the DLQ")
        repo = stack.repository()
        assert repo.get_upload(u.bucket, u.key) is None
        sqs = stack.client("sqs")
        letters = dlq_cli.peek(sqs, stack.dlq_url, repo)
        assert len(letters) == 1 and "NoIndexPublished" in letters[0].reason and u.key in letters[0].reason
        assert letters[0].objects[0]["failure"]["receive_count"] == 5
        assert driver.dlq_depth(stack) == 1  # listing leaves it there

        driver.publish_index(stack, index_dir)
        assert dlq_cli.replay(sqs, stack.dlq_url, stack.ingest_queue_url) == [letters[0].message_id]
        rec = wait_until(lambda: repo.get_upload(u.bucket, u.key), 30, "the replayed upload")
        assert (rec.outcome, rec.track_id) == ("case", "ref-0")
        assert driver.dlq_depth(stack) == 0
