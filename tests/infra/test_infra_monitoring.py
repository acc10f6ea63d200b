"""Monitoring: alarms on poison messages and failed cases, sent to an SNS topic."""

from __future__ import annotations

import json


def _alarms(synth, metric):
    return [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values() if a["Properties"].get("MetricName") == metric]


def test_given_the_dlq_when_a_message_lands_then_an_alarm_fires_to_sns(each_env):
    topic_lid, _ = each_env.one_of_type("AWS::SNS::Topic")
    dlq_lid = each_env.dlq_lid()

    alarms = [
        a for a in _alarms(each_env, "ApproximateNumberOfMessagesVisible")
        if a["Namespace"] == "AWS/SQS"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_lid, "QueueName"]}} in a["Dimensions"]
    ]

    assert len(alarms) == 1
    assert alarms[0]["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarms[0]["Threshold"] == 0
    assert {"Ref": topic_lid} in alarms[0]["AlarmActions"]


def test_given_the_state_machine_when_an_execution_fails_then_an_alarm_fires_to_sns(each_env):
    topic_lid, _ = each_env.one_of_type("AWS::SNS::Topic")
    sm_lid, _ = each_env.state_machine()

    alarms = [
        a for a in _alarms(each_env, "ExecutionsFailed")
        if a["Namespace"] == "AWS/States"
        and {"Name": "StateMachineArn", "Value": {"Ref": sm_lid}} in a["Dimensions"]
    ]

    assert len(alarms) == 1
    assert alarms[0]["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarms[0]["Threshold"] == 0
    assert {"Ref": topic_lid} in alarms[0]["AlarmActions"]


def test_given_every_function_when_it_errors_then_an_alarm_fires(each_env):
    watched = {
        a["Dimensions"][0]["Value"]["Ref"]
        for a in _alarms(each_env, "Errors")
        if a["Namespace"] == "AWS/Lambda" and a.get("AlarmActions")
    }
    assert set(each_env.project_functions()) <= watched


def test_given_prod_with_an_alarm_email_when_synthesized_then_the_topic_mails_it(prod, cdk_environments):
    email = cdk_environments["prod"]["alarm_email"]
    topic_lid, _ = prod.one_of_type("AWS::SNS::Topic")
    assert email

    prod.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": email, "TopicArn": {"Ref": topic_lid}}
    )


def test_given_dev_without_an_alarm_email_when_synthesized_then_no_subscription(dev, cdk_environments):
    assert cdk_environments["dev"]["alarm_email"] is None
    dev.template.resource_count_is("AWS::SNS::Subscription", 0)


def test_given_an_unusable_index_when_uploads_must_wait_then_an_alarm_fires_to_sns(each_env):
    """The fingerprint function counts IndexUnavailable (powertools metrics: namespace Takedown,
    dimension service=takedown); any occurrence pages ops (issue 13)."""
    topic_lid, _ = each_env.one_of_type("AWS::SNS::Topic")
    alarms = [a for a in _alarms(each_env, "IndexUnavailable") if a["Namespace"] == "Takedown"]
    assert len(alarms) == 1
    assert alarms[0]["Dimensions"] == [{"Name": "service", "Value": "takedown"}]
    assert (alarms[0]["Threshold"], alarms[0]["Statistic"]) == (0, "Sum")
    assert {"Ref": topic_lid} in alarms[0]["AlarmActions"]
    assert "dlq replay" in alarms[0]["AlarmDescription"]


def test_given_every_function_when_it_is_throttled_then_an_alarm_fires(each_env):
    topic_lid, _ = each_env.one_of_type("AWS::SNS::Topic")
    throttled = {a["Dimensions"][0]["Value"]["Ref"] for a in _alarms(each_env, "Throttles")
                 if {"Ref": topic_lid} in a["AlarmActions"]}
    assert throttled == set(each_env.project_functions())


def test_given_a_review_past_its_deadline_or_a_failed_build_then_ops_are_paged(each_env):
    topic_lid, _ = each_env.one_of_type("AWS::SNS::Topic")
    expired = _alarms(each_env, "ReviewExpired")
    assert len(expired) == 1 and expired[0]["Namespace"] == "Takedown" and {"Ref": topic_lid} in expired[0]["AlarmActions"]
    build_failed = [a for a in _alarms(each_env, "ExecutionsFailed")
                    if "catalogue index build" in a.get("AlarmDescription", "")]
    assert len(build_failed) == 1


def test_the_dashboard_shows_the_flow_the_times_and_what_is_stuck(each_env):
    (_, board), = each_env.of_type("AWS::CloudWatch::Dashboard").items()
    body = board["Properties"]["DashboardBody"]
    text = body if isinstance(body, str) else json.dumps(body)
    for metric in ("Upload_case", "Case_partial", "Decision_approve", "Notice_NOTICE_SENT", "TimeToDecision",
                   "TimeToNotice", "ReviewExpired", "ApproximateNumberOfMessagesVisible", "Throttles"):
        assert metric in text, metric
