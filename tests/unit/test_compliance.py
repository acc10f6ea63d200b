"""The check after a notice (takedown_core.compliance) over fakes."""

from __future__ import annotations

from takedown_core.cases import AuditEvent, Status
from takedown_core.compliance import ComplianceService, ComplianceSettings, NoChecker
from tests.fakes import InMemoryCaseRepository, RecordingMailer
from tests.unit.test_dispatch_service import make_case

SENT_AT = 1_767_268_800  # 2026-01-01T12:00:00Z
HOUR = 3600


class Checker:
    def __init__(self, answer):
        self.answer, self.asked = answer, []

    def is_up(self, url, platform):
        self.asked.append((url, platform))
        return self.answer


def _world(answer=None):
    repo = InMemoryCaseRepository()
    case = make_case()
    repo.create_case(case, AuditEvent(case.case_id, "2026-01-01T10:00:00.000Z", "system:ingest", "opened", None,
                                      "DETECTED"))
    for at, frm, to in (("2026-01-01T11:00:00.000Z", "DETECTED", "APPROVED"),
                        ("2026-01-01T12:00:00.000Z", "APPROVED", "NOTICE_SENT")):
        repo.transition(case.case_id, Status(frm), Status(to), AuditEvent(case.case_id, at, "t", "t", frm, to))
    mailer, checker = RecordingMailer(), Checker(answer)

    def service(hours_after: float) -> ComplianceService:
        return ComplianceService(repo=repo, checker=checker, mailer=mailer,
                                 settings=ComplianceSettings(48, 120, "rights-desk@label.example"),
                                 clock=lambda: SENT_AT + hours_after * HOUR)

    return repo, case, mailer, checker, service


def test_not_due_yet_nothing_is_asked():
    repo, case, mailer, checker, service = _world(True)
    assert service(47).run() == {"checked": 0, "removed": 0, "still_up": 0, "unknown": 0, "escalated": 0}
    assert checker.asked == []


def test_gone_the_case_is_content_removed_by_the_compliance_check():
    repo, case, mailer, checker, service = _world(False)
    assert service(49).run()["removed"] == 1
    now = repo.get_case(case.case_id)
    assert now.status is Status.CONTENT_REMOVED and now.outcome["by"] == "system:compliance"
    assert checker.asked == [(case.source.url, "youtube")]


def test_still_up_past_the_deadline_a_person_is_told_once():
    repo, case, mailer, checker, service = _world(True)
    assert service(50).run()["still_up"] == 1 and mailer.sent == []
    assert service(121).run()["escalated"] == 1
    assert service(140).run()["escalated"] == 0  # once
    [mail] = mailer.sent
    assert mail["to"] == ["rights-desk@label.example"] and case.case_id in mail["subject"]
    assert "the URL still serves it" in mail["text"] and "5.0 days ago" in mail["text"]


def test_a_partner_report_after_the_notice_means_still_up_without_asking():
    repo, case, mailer, checker, service = _world(None)
    repo.append_audit(AuditEvent(case.case_id, "2026-01-03T09:00:00.000Z", "partner:scanco", "reported_again",
                                 "NOTICE_SENT", "NOTICE_SENT"))
    out = service(130).run()
    assert out["still_up"] == 1 and out["escalated"] == 1 and checker.asked == []
    assert "reported it again" in mailer.sent[0]["text"]


def test_without_a_checker_it_cannot_tell_and_escalates_unconfirmed():
    repo, case, mailer, _, service = _world(None)
    svc = service(121)
    svc.checker = NoChecker()
    assert svc.run() == {"checked": 1, "removed": 0, "still_up": 0, "unknown": 1, "escalated": 1}
    assert "could not be confirmed" in mailer.sent[0]["text"]
