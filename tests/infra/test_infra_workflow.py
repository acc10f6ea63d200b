"""Workflow: the "takedown case" state machine, read back from the synthesized ASL."""

from __future__ import annotations

import pytest

WAIT_FOR_TOKEN = "arn:aws:states:::lambda:invoke.waitForTaskToken"


def _tasks(asl):
    return {name: s for name, s in asl["States"].items() if s["Type"] == "Task"}


def _targets(state):
    """Every state name a state can move to: Next, Default, Choices[].Next, Catch[].Next."""
    out = []
    if "Next" in state:
        out.append(state["Next"])
    if "Default" in state:
        out.append(state["Default"])
    out += [c["Next"] for c in state.get("Choices", [])]
    out += [c["Next"] for c in state.get("Catch", [])]
    return out


def _request_review(asl):
    found = {n: s for n, s in _tasks(asl).items() if s["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")}
    assert len(found) == 1, sorted(found)
    return next(iter(found.items()))


def _by_function(synth, asl, handler_module):
    fn_lid, _ = synth.function_for(handler_module)
    return {
        n: s for n, s in _tasks(asl).items()
        if fn_lid in s["Resource"] or fn_lid in str(s.get("Parameters", {}).get("FunctionName", ""))
    }


def _action(state):
    """The workflow action a Task asks the steps function for (payload-only or full invoke)."""
    params = state.get("Parameters", {})
    return params.get("action") or params.get("Payload", {}).get("action")


def _record_failure(asl):
    found = {n: s for n, s in _tasks(asl).items() if _action(s) == "record_failure"}
    assert len(found) == 1, sorted(found)
    return next(iter(found.items()))


def test_given_the_state_machine_when_synthesized_then_it_is_named_for_the_environment(each_env):
    _, sm = each_env.state_machine()
    assert sm["Properties"]["StateMachineName"] == f"takedown-case-{each_env.env}"


def test_given_the_asl_when_walked_then_every_target_exists_and_every_state_is_reachable(each_env):
    asl = each_env.asl()
    states = asl["States"]
    assert asl["StartAt"] in states

    dangling = {(n, t) for n, s in states.items() for t in _targets(s) if t not in states}
    seen, todo = set(), [asl["StartAt"]]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += _targets(states[n])

    assert dangling == set()
    assert seen == set(states), f"unreachable: {sorted(set(states) - seen)}"


def test_given_the_asl_when_walked_then_every_non_terminal_state_moves_on(each_env):
    for name, s in each_env.asl()["States"].items():
        if s["Type"] in ("Succeed", "Fail", "Choice"):
            continue
        assert ("Next" in s) != bool(s.get("End")), f"{name}: needs exactly one of Next / End"


def test_given_a_review_when_requested_then_the_task_waits_for_a_token_passed_in_the_payload(each_env):
    name, task = _request_review(each_env.asl())
    steps_lid, _ = each_env.function_for("workflow")

    assert task["Resource"].replace("${Ref:AWS::Partition}", "aws") == WAIT_FOR_TOKEN
    assert task["Parameters"]["FunctionName"] == "${GetAtt:%s.Arn}" % steps_lid
    assert task["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert task["Parameters"]["Payload"]["action"] == "request_review"


def test_given_the_recorded_request_review_input_then_it_has_exactly_the_keys_the_task_passes(each_env):
    """tests/events/sfn_request_review_task.json drives the steps handler's tests: it must be what
    this state machine sends (Payload keys, ".$" paths resolved to values by Step Functions)."""
    from tests.recorded_events import load

    _, task = _request_review(each_env.asl())
    payload = task["Parameters"]["Payload"]
    recorded = load("sfn_request_review_task.json")

    assert set(recorded) == {k.removesuffix(".$") for k in payload}
    assert recorded["action"] == payload["action"]
    assert isinstance(recorded["round"], int) and recorded["task_token"]


def test_given_a_review_when_requested_then_it_times_out_after_the_configured_wait(each_env, cdk_environments):
    _, task = _request_review(each_env.asl())
    assert task["TimeoutSeconds"] == cdk_environments[each_env.env]["review"]["wait_seconds"]


def test_given_a_review_times_out_when_caught_then_the_timeout_is_handled_before_any_catch_all(each_env):
    asl = each_env.asl()
    _, task = _request_review(asl)
    errors = [c["ErrorEquals"] for c in task["Catch"]]

    timeout_at = next(i for i, e in enumerate(errors) if "States.Timeout" in e)
    all_at = next((i for i, e in enumerate(errors) if "States.ALL" in e), len(errors))
    handler = asl["States"][task["Catch"][timeout_at]["Next"]]

    assert timeout_at < all_at
    assert handler["Type"] == "Task" and _action(handler) == "review_timeout"


def test_given_the_case_timeout_when_synthesized_then_it_outlasts_every_review_round(each_env):
    r = each_env.config.review
    rounds = 1 + r["reminders"] + r["escalations"]
    assert each_env.asl()["TimeoutSeconds"] > rounds * r["wait_seconds"]


def test_given_notice_dispatch_when_the_channel_fails_then_it_retries_with_configured_backoff(each_env, cdk_environments):
    notice_cfg = cdk_environments[each_env.env]["notice"]
    found = _by_function(each_env, each_env.asl(), "notice")
    assert len(found) == 1, sorted(found)
    (name, task), = found.items()

    retriers = [r for r in task.get("Retry", []) if "NoticeChannelError" in r["ErrorEquals"]]

    assert len(retriers) == 1, task.get("Retry")
    assert retriers[0]["MaxAttempts"] == notice_cfg["retry_attempts"]
    assert retriers[0]["BackoffRate"] == 2
    assert retriers[0]["IntervalSeconds"] == notice_cfg["retry_interval_seconds"]
    assert "TransientError" in retriers[0]["ErrorEquals"]  # a throttled table is retried like the channel
    assert "NoticeInDoubt" not in retriers[0]["ErrorEquals"]  # a send that may have gone out never is


@pytest.mark.parametrize("error", ["NoticeNotAllowed", "States.ALL", "States.TaskFailed"])
def test_given_notice_dispatch_when_not_allowed_then_it_is_never_retried(each_env, error):
    # States.TaskFailed and States.ALL would match NoticeNotAllowed too.
    (name, task), = _by_function(each_env, each_env.asl(), "notice").items()
    assert all(error not in r["ErrorEquals"] for r in task.get("Retry", [])), task["Retry"]


def test_given_any_task_when_it_fails_then_a_catch_all_leads_to_recording_the_failure(each_env):
    asl = each_env.asl()
    record_name, record = _record_failure(asl)

    for name, task in _tasks(asl).items():
        if name == record_name:
            continue
        catches = task.get("Catch", [])
        assert catches, f"{name}: no Catch"
        assert catches[-1]["ErrorEquals"] == ["States.ALL"], f"{name}: last Catch must be States.ALL"
        assert catches[-1]["Next"] == record_name, f"{name}: catch-all goes to {catches[-1]['Next']}"
        assert catches[-1].get("ResultPath") == "$.error", f"{name}: the error must reach {record_name}"


def test_given_a_recorded_failure_when_done_then_the_execution_fails(each_env):
    asl = each_env.asl()
    _, record = _record_failure(asl)

    params = record["Parameters"]
    assert params.get("Payload", params)["error.$"] == "$.error"
    assert asl["States"][record["Next"]]["Type"] == "Fail"


def test_given_the_state_machine_when_synthesized_then_its_role_may_invoke_every_task_function(each_env):
    asl = each_env.asl()
    sm_lid, sm = each_env.state_machine()
    role_lid = sm["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    allowed = [
        str(st["Resource"])
        for pol in each_env.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_lid} in pol["Properties"]["Roles"]
        for st in pol["Properties"]["PolicyDocument"]["Statement"]
        if "lambda:InvokeFunction" in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
    ]
    for name, task in _tasks(asl).items():
        fn = task.get("Parameters", {}).get("FunctionName") if "lambda:invoke" in task["Resource"] else task["Resource"]
        fn_lid = fn.removeprefix("${GetAtt:").split(".")[0]
        assert any(fn_lid in a for a in allowed), f"{name}: state machine may not invoke {fn_lid}"


# --------------------------------------------------------------------------- nothing stuck (issue 13)


def test_given_the_failure_recording_step_when_it_fails_then_it_is_retried(each_env):
    """Found under load: executions died inside 'Record failure', which had no retry, and their
    cases stayed DETECTED forever."""
    _, state = _record_failure(each_env.asl())
    retry = state.get("Retry") or []
    assert any("States.ALL" in r["ErrorEquals"] and r["MaxAttempts"] >= 3 for r in retry)


def test_given_a_review_request_when_the_mail_service_throttles_then_it_is_retried_with_backoff(each_env):
    _, state = _request_review(each_env.asl())
    retry = [r for r in state.get("Retry") or [] if "TransientError" in r["ErrorEquals"]]
    assert retry and retry[0]["BackoffRate"] > 1 and retry[0]["MaxAttempts"] >= 3
    # a retry comes before the catch-all that fails the case
    assert any(c["ErrorEquals"] == ["States.ALL"] for c in state["Catch"])


def test_given_a_policy_approval_that_declines_then_the_case_goes_to_review(each_env):
    asl = each_env.asl()
    approve = next(n for n, s in _tasks(asl).items() if _action(s) == "approve_by_policy")
    choice = asl["States"][asl["States"][approve]["Next"]]
    review_name, _ = _request_review(asl)
    assert choice["Type"] == "Choice" and choice["Default"] == review_name
    assert choice["Choices"][0]["Variable"] == "$.policy.approved"


def test_given_the_reconciler_then_it_runs_on_a_schedule_and_may_start_and_read_executions(each_env):
    fn_lid, fn = each_env.function_for("reconcile")
    rules = [r for r in each_env.of_type("AWS::Events::Rule").values()
             if any(fn_lid in str(t["Arn"]) for t in r["Properties"].get("Targets", []))]
    assert len(rules) == 1 and rules[0]["Properties"]["ScheduleExpression"] == "rate(15 minutes)"
    assert each_env.allowed(fn_lid, "states:StartExecution") and each_env.allowed(fn_lid, "states:DescribeExecution")
    assert int(each_env.env_vars(fn_lid)["STUCK_AFTER_SECONDS"]) >= 300
    assert not each_env.allowed(fn_lid, "dynamodb:DeleteItem") and not each_env.allowed(fn_lid, "dynamodb:Scan")
