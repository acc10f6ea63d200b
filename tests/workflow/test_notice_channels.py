"""A whole lifecycle per notice channel on the local stack (moto, the real state machine):
e-mail (SES raw mail with the structured document), the HTTPS API (a platform on loopback
that checks the HMAC signature and answers with a ticket) and the manual queue (a person
submits the web form and records the ticket); every notice kept exactly as sent, a copy to
the rights desk, and `takedown cases notice` printing it."""

from __future__ import annotations

import json

from takedown_core.cases import Status
from takedown_local import driver
from takedown_local.cli import main
from takedown_local.platform_api import Answer
from takedown_local.runtime import LocalStack
from tests.workflow.conftest import uploads_dir

FAST = {"notice": {"retry_attempts": 2, "retry_interval_seconds": 1}}


def _sidecars(urls: dict[str, str]) -> dict[str, str]:
    return {f"{name.rsplit('.', 1)[0]}.json": json.dumps({"source_url": url}) for name, url in urls.items()}


def _kept(stack: LocalStack, record: dict) -> bytes:
    kept = record["kept"]
    return stack.client("s3").get_object(Bucket=kept["bucket"], Key=kept["key"])["Body"].read()


def test_email_api_and_manual_channels_from_approval_to_a_ticket(tmp_path, media, monkeypatch, capsys):
    urls = {"excerpt.mp3": "https://www.dailymotion.com/video/x8abc12", "sped.m4a": "https://vimeo.com/76979871"}
    with LocalStack("dev", overrides=FAST) as stack:
        # the platform first answers 429 Retry-After: 1: the execution waits (a Wait state) and sends again
        stack.platform_api.script.append(Answer(429, {"error": "slow down"}, {"Retry-After": "1"}))
        up = uploads_dir(tmp_path, media, list(urls), _sidecars(urls))
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="approve")
        rows = {r["file"]: r for r in summary["uploads"]}
        repo = stack.repository()

        # the API: signed, ticketed, kept
        api_case = rows["excerpt.mp3"]["case_id"]
        assert rows["excerpt.mp3"]["case_status"] == "NOTICE_SENT"
        busy, received = stack.platform_api.received
        assert busy["body"] == received["body"] or json.loads(busy["body"])["case_id"] == api_case
        assert received["signed"] and received["path"] == "/dailymotion/notices"
        doc = json.loads(received["body"])
        assert doc["case_id"] == api_case and doc["law"] == "DSA"
        assert doc["location"]["url"] == "https://www.dailymotion.com/video/x8abc12"
        [record] = repo.list_notices(api_case)
        assert record["state"] == "sent" and record["ticket"] == "T-00001"
        assert _kept(stack, record) == received["body"]  # kept exactly as sent
        desk = [m for m in stack.sent_mail() if m["to"] == ["rights-desk@label.example"] and api_case in m["subject"]]
        assert len(desk) == 1 and "ticket T-00001" in desk[0]["text"]
        assert json.loads(desk[0]["attachments"]["notice.json"])["case_id"] == api_case

        # the manual channel: queued for a person, then recorded with the platform's ticket
        manual_case = rows["sped.m4a"]["case_id"]
        assert repo.get_case(manual_case).status is Status.NOTICE_QUEUED
        [waiting] = repo.list_manual()
        assert waiting["case_id"] == manual_case and waiting["form"] == "https://vimeo.example/help/dmca-notice-form"

        monkeypatch.setattr("takedown_local.cases_cli._target_session", lambda args: (
            stack.client, stack.table_name, {"CasesTable": stack.table_name, "WorkflowFunction": "unused"}))
        assert main(["notices", "manual", "list"]) == 0
        assert manual_case in capsys.readouterr().out
        assert main(["notices", "manual", "done", manual_case, "--ticket", "VIM-5521"]) == 0
        assert "NOTICE_SENT" in capsys.readouterr().out
        case = repo.get_case(manual_case)
        assert case.status is Status.NOTICE_SENT and repo.list_manual() == []
        [record] = repo.list_notices(manual_case)
        assert record["ticket"] == "VIM-5521" and record["submitted_by"].startswith("ops:")
        assert repo.get_stay_down(case.track_id, case.submission) == manual_case
        assert main(["notices", "manual", "done", manual_case, "--ticket", "again"]) == 1  # once only

        # `takedown cases notice` prints each notice as it went out
        capsys.readouterr()
        assert main(["cases", "notice", manual_case]) == 0
        out = capsys.readouterr().out
        assert "DMCA notice" in out and "ticket VIM-5521" in out and "https://vimeo.com/76979871" in out
        assert main(["cases", "notice", api_case, "--raw"]) == 0
        assert json.loads(capsys.readouterr().out)["case_id"] == api_case

        # after the notice: removed, counter-noticed (the clock in business days, a person told the
        # date), then restored; the actions run in the workflow function, as they do deployed
        monkeypatch.setattr("takedown_local.cases_cli._target_session", lambda args: (
            stack.client, stack.table_name, {"CasesTable": stack.table_name,
                                             "WorkflowFunction": stack.function_name("takedown_handlers.workflow.handler")}))
        assert main(["cases", "outcome", manual_case, "removed", "--note", "Vimeo confirmed removal"]) == 0
        counter = tmp_path / "counter.txt"
        counter.write_text("I swear, under penalty of perjury, that I have a good faith belief the material was removed "
                           "as a result of mistake or misidentification ...", encoding="utf-8")
        assert main(["cases", "counter-notice", manual_case, "--file", str(counter), "--received", "2026-12-18"]) == 0
        out = capsys.readouterr().out
        assert "COUNTER_NOTICED" in out and "2027-01-05" in out and "decide by 2027-01-04" in out
        told = [m for m in stack.sent_mail() if m["subject"].startswith(f"Counter-notice on case {manual_case}")]
        assert len(told) == 1 and told[0]["to"] == ["rights-desk@label.example"]
        assert main(["cases", "outcome", manual_case, "restored", "--note", "restored by Vimeo on 2027-01-06"]) == 0
        case = repo.get_case(manual_case)
        assert case.status is Status.RESTORED and case.counter_notice["decide_by"] == "2027-01-04"
        actions = [e.action for e in repo.audit_trail(manual_case)]
        assert actions[-3:] == ["outcome_removed", "counter_notice", "outcome_restored"]


def test_email_channel_sends_mime_with_the_document_and_keeps_the_bytes_and_the_report_counts_it(
        tmp_path, media, monkeypatch):
    urls = {"excerpt.mp3": "https://www.youtube.com/watch?v=mime0001"}
    with LocalStack("dev", overrides=FAST) as stack:
        up = uploads_dir(tmp_path, media, list(urls), _sidecars(urls))
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="approve")
        case_id = summary["uploads"][0]["case_id"]
        [notice] = [m for m in stack.sent_mail() if m["to"] == ["copyright@youtube.example"]]
        assert case_id in notice["subject"] and "17 U.S.C." in notice["text"]
        document = json.loads(notice["attachments"]["notice.json"])
        assert document["schema"] == "takedown-notice/1" and document["elements"]["signature"]
        [record] = stack.repository().list_notices(case_id)
        assert _kept(stack, record).decode() == notice["raw"]

        # the label's report renders from the local run's cases
        from datetime import datetime, timezone

        monkeypatch.setattr("takedown_local.cases_cli._target_session", lambda args: (
            stack.client, stack.table_name, {"CasesTable": stack.table_name}))
        today = datetime.now(timezone.utc).date().isoformat()
        out = tmp_path / "report.html"
        assert main(["report", "--since", today, "--out", str(out)]) == 0
        page = out.read_text()
        assert case_id in page and page.count("<svg") == 3 and "NOTICE_SENT" in page
        assert main(["report", "--since", today, "--format", "json", "--out", str(tmp_path / "r.json")]) == 0
        doc = json.loads((tmp_path / "r.json").read_text())
        assert doc["cases"] == 1 and doc["time_to"]["notice"]["cases"] == 1
