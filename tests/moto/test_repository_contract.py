"""The CaseRepository contract, run against the in-memory fake and the DynamoDB adapter on moto.

One test class, parametrized over both implementations: when the fake and the real adapter
drift apart, a test here fails for one of them.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from takedown_adapters.dynamo import DynamoCaseRepository
from takedown_core.cases import AuditEvent, Case, ConcurrentChange, IllegalTransition, Source, Status, utcnow
from takedown_core.ports import CaseExists, Review, ReviewAlreadyUsed, Submission, UploadRecord
from tests.fakes import InMemoryCaseRepository

TABLE = "takedown-cases"


_TABLES = itertools.count()


@pytest.fixture(params=["in_memory", "dynamodb_moto"])
def repo(request, create_cases_table, no_network):
    if request.param == "in_memory":
        return InMemoryCaseRepository()
    client = request.getfixturevalue("dynamodb")  # tests/moto/conftest.py
    table = f"{TABLE}-{next(_TABLES)}"
    create_cases_table(client, table)
    return DynamoCaseRepository(table, client)


def make_case(n: int = 1, *, track_id: str = "trk-0042") -> Case:
    return Case.open(
        track_id=track_id,
        work={"title": "Midnight Harbour", "artist": "The Lanterns", "owner": "Example Records Ltd",
              "territories": ["WORLD"]},
        source=Source(partner="scanco", platform="youtube", url=f"https://www.youtube.com/watch?v=v{n}",
                      uploader="nightcore_fan", title="Midnight Harbour (sped up)", bucket="b", key=f"k{n}"),
        evidence={"score": 8.4, "false_match_rate": 4e-9, "offset_s": 52.5, "landmarks": [[12.0, 64.5]]},
        policy={"auto_approve": False, "max_false_match_rate": 1e-6},
        submission=f"{n:02d}" * 32,
    )


_SECONDS = itertools.count(1)


def event(case_id: str, action: str, *, at: str | None = None, frm: str | None = None,
          to: str | None = None, **detail) -> AuditEvent:
    """An audit event; without ``at``, one second later than the previous event made here."""
    if at is None:
        s = next(_SECONDS)
        at = f"2025-03-01T{12 + s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000Z"
    return AuditEvent(case_id, at, "system:test", action, frm, to, detail)


def opened(case: Case) -> AuditEvent:
    return event(case.case_id, "opened", at="2025-03-01T11:59:59.000Z", to="DETECTED")


def review(review_id: str = "rv-1", case_id: str = "case-1") -> Review:
    return Review(review_id=review_id, case_id=case_id, reviewer="alice@label.example", task_token="tok-secret",
                  round=0, created_at="2025-03-01T12:00:00.000Z", expires_at=1_767_268_800)


class TestCaseRepositoryContract:
    # ---------------------------------------------------------------- cases
    def test_given_a_new_case_when_created_then_it_reads_back_equal(self, repo):
        case = make_case()
        repo.create_case(case, opened(case))
        assert repo.get_case(case.case_id) == case
        assert repo.audit_trail(case.case_id) == [opened(case)]

    def test_given_no_case_when_read_then_none(self, repo):
        assert repo.get_case("case-missing") is None
        assert repo.audit_trail("case-missing") == []

    def test_given_an_existing_case_when_created_again_then_case_exists_and_nothing_changes(self, repo):
        case = make_case()
        repo.create_case(case, opened(case))
        other = dataclasses.replace(case, evidence={"score": 1.0})
        with pytest.raises(CaseExists) as err:
            repo.create_case(other, event(case.case_id, "opened-again"))
        assert err.value.case_id == case.case_id
        assert repo.get_case(case.case_id) == case
        assert [e.action for e in repo.audit_trail(case.case_id)] == ["opened"]

    def test_given_a_case_when_moved_from_its_status_then_it_changes_with_updates_and_version(self, repo):
        case = make_case()
        repo.create_case(case, opened(case))
        moved = repo.transition(case.case_id, Status.DETECTED, Status.IN_REVIEW,
                                event(case.case_id, "review_request", frm="DETECTED", to="IN_REVIEW"),
                                updates={"reviewer": "alice@label.example", "review_id": "rv-1", "review_round": 0})
        assert moved.status is Status.IN_REVIEW and moved.version == case.version + 1
        assert (moved.reviewer, moved.review_id) == ("alice@label.example", "rv-1")
        assert repo.get_case(case.case_id) == moved
        assert [e.action for e in repo.audit_trail(case.case_id)] == ["opened", "review_request"]

    def test_given_a_case_when_moved_from_the_wrong_status_then_concurrent_change_and_nothing_changes(self, repo):
        case = make_case()
        repo.create_case(case, opened(case))
        with pytest.raises(ConcurrentChange) as err:
            repo.transition(case.case_id, Status.IN_REVIEW, Status.APPROVED,
                            event(case.case_id, "approved", frm="IN_REVIEW", to="APPROVED"))
        assert (err.value.expected, err.value.actual) == (Status.IN_REVIEW, Status.DETECTED)
        assert repo.get_case(case.case_id) == case
        assert len(repo.audit_trail(case.case_id)) == 1

    def test_given_no_case_when_moved_then_concurrent_change_says_missing(self, repo):
        with pytest.raises(ConcurrentChange) as err:
            repo.transition("case-missing", Status.DETECTED, Status.IN_REVIEW, event("case-missing", "x"))
        assert err.value.actual is None

    def test_given_a_case_when_moved_illegally_then_illegal_transition_and_nothing_changes(self, repo):
        case = make_case()
        repo.create_case(case, opened(case))
        with pytest.raises(IllegalTransition):
            repo.transition(case.case_id, Status.DETECTED, Status.NOTICE_SENT,
                            event(case.case_id, "notice_sent", frm="DETECTED", to="NOTICE_SENT"))
        assert repo.get_case(case.case_id) == case
        assert len(repo.audit_trail(case.case_id)) == 1

    def test_given_a_stale_version_of_a_case_when_two_writers_race_then_only_one_wins(self, repo):
        case = make_case()
        repo.create_case(case, opened(case))
        repo.transition(case.case_id, Status.DETECTED, Status.IN_REVIEW, event(case.case_id, "review_request"))
        repo.transition(case.case_id, Status.IN_REVIEW, Status.APPROVED, event(case.case_id, "approved"))
        with pytest.raises(ConcurrentChange):
            repo.transition(case.case_id, Status.IN_REVIEW, Status.REJECTED, event(case.case_id, "rejected"))
        assert repo.get_case(case.case_id).status is Status.APPROVED

    # ---------------------------------------------------------------- audit
    def test_given_events_at_increasing_times_then_the_trail_is_in_that_order(self, repo):
        case = make_case()
        repo.create_case(case, opened(case))
        for i in range(1, 6):
            repo.append_audit(event(case.case_id, f"step-{i}", at=f"2025-03-01T12:00:0{i}.000Z", n=i))
        assert [e.action for e in repo.audit_trail(case.case_id)] == ["opened"] + [f"step-{i}" for i in range(1, 6)]

    def test_given_events_in_the_same_millisecond_then_the_trail_keeps_the_order_they_were_written(
        self, repo, request
    ):
        case = make_case()
        repo.create_case(case, opened(case))
        same = "2025-03-01T12:00:00.000Z"
        for i in range(8):
            repo.append_audit(event(case.case_id, f"step-{i}", at=same))
        assert [e.action for e in repo.audit_trail(case.case_id)] == ["opened"] + [f"step-{i}" for i in range(8)]

    def test_given_a_trail_when_events_are_appended_then_the_old_ones_are_unchanged(self, repo):
        case = make_case()
        repo.create_case(case, opened(case))
        a = event(case.case_id, "a", at="2025-03-01T12:00:01.000Z", note="x")
        repo.append_audit(a)
        before = repo.audit_trail(case.case_id)
        before.append(event(case.case_id, "tampered"))  # a caller changing the list it got back

        repo.transition(case.case_id, Status.DETECTED, Status.FAILED,
                        event(case.case_id, "failed", at="2025-03-01T12:00:02.000Z", frm="DETECTED", to="FAILED"))
        after = repo.audit_trail(case.case_id)

        assert [e.action for e in after] == ["opened", "a", "failed"]
        assert after[:2] == [opened(case), event(case.case_id, "a", at="2025-03-01T12:00:01.000Z", note="x")]

    def test_given_a_caller_changes_an_events_detail_after_writing_or_reading_then_the_stored_trail_is_unchanged(
        self, repo, request
    ):
        case = make_case()
        written = event(case.case_id, "opened", at="2025-03-01T11:59:59.000Z", to="DETECTED", reviewer="alice")
        repo.create_case(case, written)
        written.detail["reviewer"] = "mallory"          # the writer changes its object afterwards
        repo.audit_trail(case.case_id)[0].detail["note"] = "added later"  # a reader changes what it got
        assert repo.audit_trail(case.case_id)[0].detail == {"reviewer": "alice"}

    def test_given_events_of_two_cases_then_each_trail_has_only_its_own(self, repo):
        a, b = make_case(1), make_case(2)
        repo.create_case(a, opened(a))
        repo.create_case(b, opened(b))
        repo.append_audit(event(a.case_id, "only-a", at="2025-03-01T12:00:01.000Z"))
        assert [e.action for e in repo.audit_trail(a.case_id)] == ["opened", "only-a"]
        assert [e.action for e in repo.audit_trail(b.case_id)] == ["opened"]

    # ---------------------------------------------------------------- listing
    def test_given_cases_in_several_statuses_when_listed_by_status_then_each_list_has_its_own(self, repo):
        cases = [make_case(i) for i in range(1, 5)]
        for c in cases:
            repo.create_case(c, opened(c))
        repo.transition(cases[1].case_id, Status.DETECTED, Status.IN_REVIEW, event(cases[1].case_id, "r"))
        repo.transition(cases[2].case_id, Status.DETECTED, Status.APPROVED, event(cases[2].case_id, "a"))

        def ids(status=None):
            return {c.case_id for c in repo.list_cases(status)}

        assert ids(Status.DETECTED) == {cases[0].case_id, cases[3].case_id}
        assert ids(Status.IN_REVIEW) == {cases[1].case_id}
        assert ids(Status.APPROVED) == {cases[2].case_id}
        assert ids(Status.REJECTED) == set()
        assert ids() == {c.case_id for c in cases}
        assert all(c.status is Status.IN_REVIEW for c in repo.list_cases(Status.IN_REVIEW))

    def test_given_a_cutoff_when_listed_then_only_cases_unchanged_since_come_back(self, repo):
        """What the reconciler asks for: stale cases, straight from the by-status index."""
        import time

        old = make_case(1)
        repo.create_case(old, opened(old))
        time.sleep(0.01)
        cutoff = utcnow()
        time.sleep(0.01)
        new = make_case(2)
        repo.create_case(new, opened(new))
        assert [c.case_id for c in repo.list_cases(Status.DETECTED, updated_before=cutoff)] == [old.case_id]
        assert {c.case_id for c in repo.list_cases(Status.DETECTED)} == {old.case_id, new.case_id}
        with pytest.raises(ValueError):
            repo.list_cases(updated_before=cutoff)

    def test_given_cases_in_review_when_a_reviewers_queue_is_asked_then_only_theirs_oldest_first(self, repo):
        """A reviewer's queue, from the sparse by-reviewer index: in review and assigned to them."""
        import time

        cases = []
        for i in range(1, 6):
            c = make_case(i)
            repo.create_case(c, opened(c))
            cases.append(c)
            time.sleep(0.002)  # opening times in this order
        for c, who in zip(cases, ["alice@label.example", "bob@label.example", "alice@label.example", None]):
            repo.transition(c.case_id, Status.DETECTED, Status.IN_REVIEW, event(c.case_id, "review_request"),
                            updates={"reviewer": who} if who else None)
        assert repo.cases_for_reviewer("alice@label.example") == [repo.get_case(cases[0].case_id),
                                                                   repo.get_case(cases[2].case_id)]
        assert [c.case_id for c in repo.cases_for_reviewer("bob@label.example")] == [cases[1].case_id]
        # reassigned to bob: it moves to bob's queue
        repo.transition(cases[0].case_id, Status.IN_REVIEW, Status.IN_REVIEW, event(cases[0].case_id, "reassigned"),
                        updates={"reviewer": "bob@label.example"})
        assert [c.case_id for c in repo.cases_for_reviewer("bob@label.example")] == [cases[0].case_id,
                                                                                      cases[1].case_id]
        # decided: it leaves the queue
        repo.transition(cases[2].case_id, Status.IN_REVIEW, Status.APPROVED, event(cases[2].case_id, "approved"))
        assert repo.cases_for_reviewer("alice@label.example") == []
        assert [c.case_id for c in repo.cases_for_reviewer("bob@label.example", limit=1)] == [cases[0].case_id]
        assert repo.cases_for_reviewer("nobody@label.example") == []

    def test_given_non_case_items_when_listing_all_then_only_cases_come_back(self, repo):
        case = make_case()
        repo.create_case(case, opened(case))
        repo.put_review(review(case_id=case.case_id), ttl_epoch=1_800_000_000)
        repo.put_submission(Submission("ab" * 32, "no_match", first_seen="t"))
        repo.claim_notice(case.case_id, "email:x@y.example", {"to": "x@y.example"})
        assert [c.case_id for c in repo.list_cases()] == [case.case_id]

    # ---------------------------------------------------------------- reviews
    def test_given_a_review_when_stored_then_it_reads_back_equal(self, repo):
        r = review()
        repo.put_review(r, ttl_epoch=r.expires_at + 86400)
        assert repo.get_review("rv-1") == r
        assert repo.get_review("rv-missing") is None

    def test_given_a_review_when_used_twice_then_the_first_decision_wins(self, repo):
        repo.put_review(review(), ttl_epoch=1_800_000_000)
        used = repo.use_review("rv-1", {"decision": "approve", "by": "alice@label.example"})
        assert used.used is True and used.decision["decision"] == "approve"

        with pytest.raises(ReviewAlreadyUsed):
            repo.use_review("rv-1", {"decision": "reject", "by": "alice@label.example"})

        stored = repo.get_review("rv-1")
        assert stored.used is True and stored.decision == {"decision": "approve", "by": "alice@label.example"}
        assert stored.task_token == "tok-secret"

    def test_given_no_review_when_used_then_review_already_used(self, repo):
        with pytest.raises(ReviewAlreadyUsed):
            repo.use_review("rv-missing", {"decision": "approve"})

    # ---------------------------------------------------------------- submissions and uploads
    def test_given_a_submission_when_put_twice_then_the_first_wins(self, repo):
        first = Submission("cd" * 32, "case", track_id="trk-1", match={"score": 8.0}, first_seen="t1")
        repo.put_submission(first)
        repo.put_submission(Submission("cd" * 32, "no_match", first_seen="t2"))
        assert repo.get_submission("cd" * 32) == first
        assert repo.get_submission("ef" * 32) is None

    def test_given_an_upload_record_when_put_then_it_reads_back_and_a_later_put_replaces_it(self, repo):
        rec = UploadRecord("scanco-landing", "dir/clip one.mp4", "scanco", "quarantined", reason="empty",
                           recorded_at="t1", extra={"etag": "e1", "detail": "no bytes"})
        repo.put_upload(rec)
        assert repo.get_upload("scanco-landing", "dir/clip one.mp4") == rec
        newer = dataclasses.replace(rec, outcome="no_match", reason=None, extra={"etag": "e2"})
        repo.put_upload(newer)
        assert repo.get_upload("scanco-landing", "dir/clip one.mp4") == newer
        assert repo.get_upload("scanco-landing", "other.mp4") is None

    def test_given_an_ingest_failure_when_recorded_then_the_latest_reads_back_beside_the_upload(self, repo):
        assert repo.get_ingest_failure("scanco-landing", "a b.mp3") is None
        repo.record_ingest_failure("scanco-landing", "a b.mp3", {"error": "IndexUnavailable", "receive_count": 1})
        repo.record_ingest_failure("scanco-landing", "a b.mp3", {"error": "IndexUnavailable", "receive_count": 2})
        assert repo.get_ingest_failure("scanco-landing", "a b.mp3") == {"error": "IndexUnavailable", "receive_count": 2}
        assert repo.get_upload("scanco-landing", "a b.mp3") is None  # a failure is not an outcome

    # ---------------------------------------------------------------- notices
    def test_given_a_notice_slot_when_claimed_twice_then_the_second_claim_fails(self, repo):
        assert repo.claim_notice("case-1", "email:copyright@youtube.example", {"to": "copyright@youtube.example"})
        assert not repo.claim_notice("case-1", "email:copyright@youtube.example", {"to": "copyright@youtube.example"})
        assert repo.get_notice("case-1", "email:copyright@youtube.example") == {
            "to": "copyright@youtube.example", "state": "sending"}

    def test_given_a_failed_send_when_claimed_again_then_the_slot_is_free(self, repo):
        ch = "email:copyright@youtube.example"
        repo.claim_notice("case-1", ch, {"to": "copyright@youtube.example"})
        repo.complete_notice("case-1", ch, {"state": "failed", "error": "RuntimeError: down"})
        assert repo.get_notice("case-1", ch)["state"] == "failed"

        assert repo.claim_notice("case-1", ch, {"to": "copyright@youtube.example", "attempt": 2})
        assert repo.get_notice("case-1", ch)["state"] == "sending"
        assert not repo.claim_notice("case-1", ch, {"to": "copyright@youtube.example"})

    def test_given_a_sent_notice_when_claimed_again_then_the_slot_stays_taken(self, repo):
        ch = "email:copyright@youtube.example"
        repo.claim_notice("case-1", ch, {"to": "copyright@youtube.example"})
        repo.complete_notice("case-1", ch, {"state": "sent", "provider_id": "msg-1"})
        assert not repo.claim_notice("case-1", ch, {"to": "copyright@youtube.example"})
        assert repo.get_notice("case-1", ch) == {"to": "copyright@youtube.example", "state": "sent",
                                                 "provider_id": "msg-1"}

    def test_given_two_channels_then_their_slots_are_independent(self, repo):
        assert repo.claim_notice("case-1", "email:a@x.example", {})
        assert repo.claim_notice("case-1", "email:b@x.example", {})
        assert repo.claim_notice("case-2", "email:a@x.example", {})
        assert repo.get_notice("case-3", "email:a@x.example") is None

    # ---------------------------------------------------------------- stay-down
    def test_given_a_stay_down_mark_then_it_is_found_for_that_work_and_content_only(self, repo):
        assert repo.get_stay_down("trk-1", "ab" * 32) is None
        repo.mark_stay_down("trk-1", "ab" * 32, "case-first")
        repo.mark_stay_down("trk-1", "ab" * 32, "case-second")  # first mark wins
        assert repo.get_stay_down("trk-1", "ab" * 32) == "case-first"
        assert repo.get_stay_down("trk-2", "ab" * 32) is None
        assert repo.get_stay_down("trk-1", "cd" * 32) is None


# --------------------------------------------------------------------------- notices: records, the manual queue, rate limits


def test_notice_records_are_listed_per_case_with_their_slot(repo):
    repo.claim_notice("case-1", "email:a@x.example", {"law": "DMCA"})
    repo.complete_notice("case-1", "email:a@x.example", {"state": "sent", "ticket": "T-1"})
    repo.claim_notice("case-1", "likeness:email:b@x.example", {"law": "LIKENESS-DSA"})
    repo.claim_notice("case-2", "email:a@x.example", {"law": "DMCA"})
    got = repo.list_notices("case-1")
    assert [(r["slot"], r["state"]) for r in got] == [("email:a@x.example", "sent"),
                                                      ("likeness:email:b@x.example", "sending")]
    assert got[0]["ticket"] == "T-1" and repo.list_notices("case-3") == []


def test_a_deferred_notice_may_be_claimed_again_and_keeps_its_history(repo):
    assert repo.claim_notice("case-1", "api:https://p.example/n", {"law": "DSA"})
    repo.complete_notice("case-1", "api:https://p.example/n", {"state": "deferred", "deferred_seconds": 7})
    assert repo.claim_notice("case-1", "api:https://p.example/n", {"law": "DSA", "rendered_at": "later"})
    rec = repo.get_notice("case-1", "api:https://p.example/n")
    assert rec["state"] == "sending" and rec["deferred_seconds"] == 7 and rec["rendered_at"] == "later"
    for state in ("sending", "queued", "rejected", "in_doubt"):
        repo.complete_notice("case-1", "api:https://p.example/n", {"state": state})
        assert not repo.claim_notice("case-1", "api:https://p.example/n", {"law": "DSA"}), state


def test_the_manual_queue_lists_oldest_first_and_removes_once(repo):
    for n, at in ((2, "2025-03-01T12:00:02.000Z"), (1, "2025-03-01T12:00:01.000Z")):
        repo.queue_manual({"case_id": f"case-{n}", "slot": "manual:https://form.example", "platform": "vimeo",
                           "notice_type": "copyright", "law": "DMCA", "form": "https://form.example",
                           "subject": f"notice {n}", "queued_at": at, "sha256": "ab" * 32})
    assert [e["case_id"] for e in repo.list_manual()] == ["case-1", "case-2"]
    assert repo.remove_manual("case-1", "manual:https://form.example") is True
    assert repo.remove_manual("case-1", "manual:https://form.example") is False
    assert [e["case_id"] for e in repo.list_manual()] == ["case-2"]


def test_a_rate_window_gives_its_slots_then_says_how_long_to_wait(repo):
    now = 1_000_020.0
    window = int(now // 60) * 60
    got = [repo.take_rate_slot("vidshare:api:https://p.example", 3, 60, now) for _ in range(5)]
    assert got[:3] == [0.0, 0.0, 0.0] and got[3] == got[4] == window + 60 - now > 0
    assert repo.take_rate_slot("other:api:https://q.example", 3, 60, now) == 0.0  # per key
    assert repo.take_rate_slot("vidshare:api:https://p.example", 3, 60, window + 60) == 0.0  # the next window


def test_repeat_uploaders_are_counted_once_per_case_per_platform(repo):
    for case_id in ("case-1", "case-2", "case-2"):
        repo.count_notice("youtube", "Nightcore  Fan", case_id)
    repo.count_notice("tiktok", "nightcore fan", "case-3")
    assert repo.notices_for("youtube", "nightcore fan") == 2  # case and spacing ignored, case-2 once
    assert repo.notices_for("tiktok", "Nightcore Fan") == 1 and repo.notices_for("youtube", "someone") == 0


def test_a_reviewers_queue_is_one_query_of_the_by_reviewer_index_never_a_scan(dynamodb, create_cases_table, no_network):
    calls: list[tuple[str, dict]] = []

    class Spy:
        def __getattr__(self, name):
            method = getattr(dynamodb, name)

            def call(**kw):
                calls.append((name, kw))
                return method(**kw)
            return call

    table = f"{TABLE}-{next(_TABLES)}"
    create_cases_table(dynamodb, table)
    repo = DynamoCaseRepository(table, Spy())
    case = make_case(1)
    repo.create_case(case, opened(case))
    repo.transition(case.case_id, Status.DETECTED, Status.IN_REVIEW, event(case.case_id, "r"),
                    updates={"reviewer": "alice@label.example"})
    calls.clear()
    assert [c.case_id for c in repo.cases_for_reviewer("alice@label.example")] == [case.case_id]
    assert [(name, kw.get("IndexName")) for name, kw in calls] == [("query", "by-reviewer")]
