"""The whole workflow on moto, executing the synthesized state machine (no second copy).

Given real media dropped into a partner bucket, the fingerprint Lambda opens a case, the
state machine asks for review by SES mail, the review page decides via POST, and the notice
goes out (or the case ends rejected, expired or failed with its cause).
"""

from __future__ import annotations

import json
import time

import pytest

from takedown_core.cases import Status
from takedown_local import driver
from takedown_local.runtime import LocalStack

from tests.workflow.conftest import uploads_dir

pytestmark = pytest.mark.timeout(180)

FAST_REVIEW = {"review": {"wait_seconds": 2, "link_ttl_seconds": 1, "reminders": 1, "escalations": 1}}
FAST_NOTICE = {"notice": {"retry_attempts": 2, "retry_interval_seconds": 1}}


def _execution(stack: LocalStack, case_id: str) -> dict:
    sfn = stack.client("stepfunctions")
    arn = stack.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{case_id}"
    return sfn.describe_execution(executionArn=arn)


def _wait_execution_done(stack: LocalStack, case_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ex = _execution(stack, case_id)
        if ex["status"] != "RUNNING":
            return ex
        time.sleep(0.2)
    raise AssertionError(f"execution {case_id} still running")


def _actions(stack: LocalStack, case_id: str) -> list[str]:
    return [e.action for e in stack.repository().audit_trail(case_id)]


def test_given_a_reupload_when_the_reviewer_approves_then_one_notice_is_sent(tmp_path, media):
    with LocalStack("dev", overrides=FAST_NOTICE) as stack:
        sidecar = json.dumps({"source_url": "https://www.youtube.com/watch?v=abc", "platform": "youtube",
                              "uploader": "<script>x</script>", "title": "ref (sped up)"})
        up = uploads_dir(tmp_path, media, ["excerpt.mp3", "unrelated.ogg"], {"excerpt.json": sidecar})
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="approve")

        rows = {r["file"]: r for r in summary["uploads"]}
        assert summary["lost"] == 0
        assert rows["excerpt.mp3"]["outcome"] == "case"
        assert rows["excerpt.mp3"]["track_id"] == "ref-0"
        assert rows["excerpt.mp3"]["case_status"] == "NOTICE_SENT"
        assert rows["unrelated.ogg"]["outcome"] == "no_match"
        case_id = rows["excerpt.mp3"]["case_id"]
        case = stack.repository().get_case(case_id)
        # matched as the deployed stack matches a catalogue larger than one function holds: the
        # local index is sharded for SHARDS_PER_FUNCTION (2 in dev), the fingerprint function
        # called the shard function once per group through Lambda and merged the answers
        query = case.evidence["query"]
        assert stack.shards_per_function == 2
        assert query["shards_searched"] == 3 and query["shard_invocations"] == 2
        assert case.source.url == "https://www.youtube.com/watch?v=abc"
        assert case.source.uploader == "<script>x</script>"
        notices = [m for m in stack.sent_mail() if m["to"] == ["copyright@youtube.example"]]
        assert len(notices) == 1
        assert "https://www.youtube.com/watch?v=abc" in notices[0]["body"]
        assert _wait_execution_done(stack, case_id)["status"] == "SUCCEEDED"
        assert _actions(stack, case_id)[:1] == ["opened"]
        assert {"approved", "notice_sent"} <= set(_actions(stack, case_id))
        # the token never reached a mail
        review = stack.repository().get_review(case.review_id)
        assert all(review.task_token not in m["body"] for m in stack.sent_mail())


def test_given_a_case_in_review_when_the_link_is_only_fetched_then_nothing_is_decided(tmp_path, media):
    with LocalStack("dev") as stack:
        up = uploads_dir(tmp_path, media, ["excerpt.mp3"])
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="none")
        case_id = summary["uploads"][0]["case_id"]
        assert summary["uploads"][0]["case_status"] == "IN_REVIEW"
        url = stack.review_links()[-1]["url"]
        for method in ("GET", "HEAD", "GET"):
            status, _ = driver.http(method, url)
            assert status == 200
        time.sleep(0.5)
        assert stack.repository().get_case(case_id).status == Status.IN_REVIEW
        assert _execution(stack, case_id)["status"] == "RUNNING"


def test_given_a_case_when_the_reviewer_rejects_then_no_notice_is_sent(tmp_path, media):
    with LocalStack("dev") as stack:
        up = uploads_dir(tmp_path, media, ["sped.m4a"])
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="reject")
        row = summary["uploads"][0]
        assert row["track_id"] == "ref-1"
        assert row["case_status"] == "REJECTED"
        ex = _wait_execution_done(stack, row["case_id"])
        assert ex["status"] == "SUCCEEDED"
        decision = json.loads(ex["output"])["decision"]  # who decided, when, travels in the output
        assert decision["decision"] == "reject" and decision["by"] == "rights-review@label.example"
        assert decision["reason"] == "other" and decision["at"]
        assert not [m for m in stack.sent_mail() if "copyright@" in " ".join(m["to"])]
        case = stack.repository().get_case(row["case_id"])
        assert case.decision["reason"] == "other"


def test_given_nobody_decides_when_the_review_times_out_then_reminder_escalation_and_expiry(tmp_path, media):
    with LocalStack("dev", overrides=FAST_REVIEW) as stack:
        up = uploads_dir(tmp_path, media, ["excerpt.mp3"])
        driver.build_index(media["catalog"], tmp_path / "idx", shards_per_function=stack.shards_per_function)
        driver.publish_index(stack, tmp_path / "idx")
        dropped = driver.drop_uploads(stack, up)
        driver.wait_ingested(stack, dropped, progress=False)
        case_id = stack.repository().get_upload(dropped[0].bucket, dropped[0].key).case_id
        ex = _wait_execution_done(stack, case_id, timeout=60)
        assert ex["status"] == "SUCCEEDED"
        assert stack.repository().get_case(case_id).status == Status.REVIEW_EXPIRED
        actions = _actions(stack, case_id)
        assert actions.count("review_timed_out") == 2
        assert {"review_request", "review_reminder", "review_escalation", "review_expired"} <= set(actions)
        to = [m["to"][0] for m in stack.sent_mail()]
        assert to[-1] == "rights-lead@label.example"  # escalated to the fallback reviewer
        # the first link is dead now: a plain page says so
        first = stack.review_links()[0]["url"]
        status, page = driver.http("GET", first)
        assert status in (409, 410)


def test_given_the_notice_channel_fails_when_approved_then_the_case_is_notice_failed_with_its_cause(tmp_path, media):
    with LocalStack("dev", overrides=FAST_NOTICE) as stack:
        sidecar = json.dumps({"source_url": "https://www.youtube.com/watch?v=channel0001"})
        up = uploads_dir(tmp_path, media, ["excerpt.mp3"], {"excerpt.json": sidecar})
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="none")
        case_id = summary["uploads"][0]["case_id"]
        # The channel breaks: SES no longer accepts mail from the sender.
        stack.client("ses").delete_identity(Identity=stack.config.sender)
        assert driver.decide_case(stack, case_id, "approve") == 200
        ex = _wait_execution_done(stack, case_id, timeout=60)
        assert ex["status"] == "FAILED"
        case = stack.repository().get_case(case_id)
        assert case.status == Status.NOTICE_FAILED
        assert "NoticeChannelError" in json.dumps(case.failure)
        assert "failed" in _actions(stack, case_id)
        notice = stack.repository().get_notice(case_id, "email:copyright@youtube.example")
        assert notice is not None and notice["state"] == "failed"


def test_given_a_long_queue_when_more_cases_arrive_then_one_hourly_digest_lists_them(tmp_path, media):
    overrides = {"review": {"digest_threshold": 1}}
    with LocalStack("dev", overrides=overrides) as stack:
        up = uploads_dir(tmp_path, media, ["excerpt.mp3", "sped.m4a"])
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="none")
        cases = [r["case_id"] for r in summary["uploads"]]
        assert all(r["case_status"] == "IN_REVIEW" for r in summary["uploads"])
        # The reviewer got one individual mail; the second case waits for the digest.
        reviewer = stack.config.reviewers["allow"][0]
        assert len([m for m in stack.sent_mail() if m["to"] == [reviewer]]) == 1
        # The hourly rule fires (invoked here as EventBridge would).
        sched = [s for s in stack.schedules if "send_digests" in s[2]]
        assert sched and sched[0][0] == 3600
        resp = stack.client("lambda").invoke(FunctionName=sched[0][1], Payload=sched[0][2].encode())
        assert not resp.get("FunctionError"), resp["Payload"].read()
        mails = [m for m in stack.sent_mail() if m["to"] == [reviewer]]
        assert len(mails) == 2 and "2 takedown reviews" in mails[-1]["subject"]
        for cid in cases:
            review_id = stack.repository().get_case(cid).review_id
            assert f"/review/{review_id}?" in mails[-1]["body"]


def _taken_down(stack: LocalStack, tmp_path, media) -> dict:
    """The excerpt at one YouTube URL, approved and taken down; the run's summary."""
    first = uploads_dir(tmp_path / "a", media, ["excerpt.mp3"], {"excerpt.json": json.dumps(
        {"source_url": "https://www.youtube.com/watch?v=first", "platform": "youtube"})})
    return driver.run(stack, catalog=media["catalog"], uploads=first, decide="approve")


def _reupload_elsewhere(stack: LocalStack, tmp_path, media):
    """The same bytes again under another key, at another URL; its upload record."""
    again = uploads_dir(tmp_path / "b", media, ["excerpt.mp3"], {"excerpt.json": json.dumps(
        {"source_url": "https://www.youtube.com/watch?v=again", "platform": "youtube"})})
    (again / "excerpt.mp3").rename(again / "reupload.mp3")
    (again / "excerpt.json").rename(again / "reupload.json")
    dropped = driver.drop_uploads(stack, again)
    driver.wait_ingested(stack, dropped, progress=False)
    return stack.repository().get_upload(dropped[0].bucket, dropped[0].key)


def test_given_content_taken_down_before_when_it_reappears_elsewhere_then_stay_down_approves_without_review(
        tmp_path, media):
    with LocalStack("dev") as stack:
        summary = _taken_down(stack, tmp_path, media)
        assert summary["uploads"][0]["case_status"] == "NOTICE_SENT"
        reviews_before = len(stack.review_links())

        rec = _reupload_elsewhere(stack, tmp_path, media)
        assert rec.outcome == "case" and rec.case_id != summary["uploads"][0]["case_id"]
        assert _wait_execution_done(stack, rec.case_id)["status"] == "SUCCEEDED"
        case = stack.repository().get_case(rec.case_id)
        assert case.status == Status.NOTICE_SENT
        assert case.policy["auto_approve"] is True and "stay-down" in case.policy["reason"]
        approved = [e for e in stack.repository().audit_trail(rec.case_id) if e.action == "approved"]
        assert [e.actor for e in approved] == ["policy:stay-down"]
        assert len(stack.review_links()) == reviews_before  # nobody was asked
        notices = [m for m in stack.sent_mail() if "watch?v=again" in m["body"] and not m["subject"].startswith("[copy]")]
        assert len(notices) == 1  # one notice (and the rights desk's copy of it)
        notice = notices[0]
        flat = " ".join(notice["body"].split())
        assert "reviewed this evidence before this notice was sent" not in flat  # nobody reviewed this one
        assert "stay-down policy" in flat and summary["uploads"][0]["case_id"] in flat


def test_given_the_earlier_takedown_was_disputed_when_the_content_reappears_then_a_person_reviews_it(
        tmp_path, media):
    with LocalStack("dev") as stack:
        summary = _taken_down(stack, tmp_path, media)
        first_id = summary["uploads"][0]["case_id"]
        fn = stack.function_name("takedown_handlers.workflow.handler")
        resp = stack.client("lambda").invoke(FunctionName=fn, Payload=json.dumps(
            {"action": "record_outcome", "case_id": first_id, "outcome": "disputed", "note": "counter-notice"}).encode())
        assert not resp.get("FunctionError")

        rec = _reupload_elsewhere(stack, tmp_path, media)
        assert rec.case_id != first_id
        assert stack.repository().get_case(rec.case_id).policy["auto_approve"] is True  # ingest still offered it
        driver.wait_for(lambda: driver.settled(stack, rec.case_id), 60, "review")
        case = stack.repository().get_case(rec.case_id)
        assert case.status == Status.IN_REVIEW  # the policy declined: the disputed takedown is no basis
        declined = [e for e in stack.repository().audit_trail(rec.case_id) if e.action == "policy_declined"]
        assert declined and "NOTICE_DISPUTED" in declined[0].detail["reason"]
