"""Notices: the verified SES sender and who may send as it."""

from __future__ import annotations

import json


def test_given_the_configured_sender_when_synthesized_then_an_ses_identity_exists_for_it(each_env, cdk_environments):
    sender = cdk_environments[each_env.env]["sender"]
    each_env.template.has_resource_properties("AWS::SES::EmailIdentity", {"EmailIdentity": sender})


def _may_send_as_sender(synth, module):
    fn_lid, _ = synth.function_for(module)
    identity_lid, _ = synth.one_of_type("AWS::SES::EmailIdentity")
    return [r for r in synth.allowed(fn_lid, "ses:SendEmail") if identity_lid in json.dumps(r)]


def test_given_the_dispatch_function_when_synthesized_then_it_may_send_email_as_the_sender(each_env):
    assert _may_send_as_sender(each_env, "notice")


def test_given_the_steps_function_when_synthesized_then_it_may_send_review_emails_as_the_sender(each_env):
    assert _may_send_as_sender(each_env, "workflow")


def test_given_the_dispatch_function_when_synthesized_then_it_sends_from_the_configured_sender(each_env, cdk_environments):
    cfg = cdk_environments[each_env.env]
    fn_lid, _ = each_env.function_for("notice")
    env = each_env.env_vars(fn_lid)

    assert env["SENDER"] == cfg["sender"]
    assert json.loads(env["PLATFORMS"]) == {p: {k: v for k, v in d.items() if k not in ("location", "licensed_uploaders")}
                                            for p, d in cfg["platforms"].items()}
    assert json.loads(env["COMPLAINANT"]) == cfg["complainant"]


def test_given_each_environment_then_an_invalid_or_rejected_notice_pages_ops(each_env):
    alarms = each_env.template.find_resources("AWS::CloudWatch::Alarm")
    names = {a["Properties"].get("MetricName") for a in alarms.values()}
    assert {"Notice_NOTICE_INVALID", "Notice_NOTICE_REJECTED"} <= names
    for a in alarms.values():
        if a["Properties"].get("MetricName", "").startswith("Notice_"):
            assert a["Properties"]["AlarmActions"], "no action: nobody is told"


def test_given_each_environment_then_notice_retries_back_off_with_jitter_and_rate_limits_wait(each_env):
    definition = json.dumps(each_env.template.find_resources("AWS::StepFunctions::StateMachine"))
    assert "JitterStrategy" in definition and "FULL" in definition
    assert "Wait for the platform" in definition and "$.notice.deferred_seconds" in definition
