"""Review: signing key, review API (GET/HEAD page, POST decision) and its callback rights."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match


def _paths(synth):
    """logical id of each API Gateway resource -> its full path ('/review/{review_id}')."""
    res = synth.of_type("AWS::ApiGateway::Resource")
    paths = {}

    def path(lid):
        if lid not in paths:
            parent = res[lid]["Properties"]["ParentId"]
            prefix = path(parent["Ref"]) if "Ref" in parent else ""  # GetAtt RootResourceId: the root
            paths[lid] = f"{prefix}/{res[lid]['Properties']['PathPart']}"
        return paths[lid]

    for lid in res:
        path(lid)
    return paths


def _methods(synth):
    paths = _paths(synth)
    out = set()
    for m in synth.of_type("AWS::ApiGateway::Method").values():
        rid = m["Properties"]["ResourceId"]
        where = paths[rid["Ref"]] if "Ref" in rid else "/"
        out.add((m["Properties"]["HttpMethod"], where))
    return out


def test_given_the_review_api_when_synthesized_then_only_page_and_decision_routes_exist(each_env):
    assert _methods(each_env) == {
        ("GET", "/review/{review_id}"),
        ("HEAD", "/review/{review_id}"),
        ("POST", "/review/{review_id}/decision"),
    }


def test_given_the_decision_route_when_synthesized_then_no_safe_method_can_decide(each_env):
    deciding = {(verb, p) for verb, p in _methods(each_env) if p.endswith("/decision")}
    assert deciding == {("POST", "/review/{review_id}/decision")}


def test_given_the_review_api_when_synthesized_then_every_method_proxies_to_the_review_function(each_env):
    api_lid, _ = each_env.function_for("review_api")
    for m in each_env.of_type("AWS::ApiGateway::Method").values():
        integration = m["Properties"]["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert api_lid in json.dumps(integration["Uri"])


def test_given_review_links_when_signed_then_the_key_is_a_generated_secret(each_env):
    each_env.template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {"GenerateSecretString": Match.object_like({"PasswordLength": Match.any_value()})},
    )
    secret_lid, _ = each_env.one_of_type("AWS::SecretsManager::Secret")
    for module in ("review_api", "workflow"):
        fn_lid, _ = each_env.function_for(module)
        assert each_env.env_vars(fn_lid)["LINK_KEY_SECRET_ARN"] == {"Ref": secret_lid}
        assert {"Ref": secret_lid} in each_env.allowed(fn_lid, "secretsmanager:GetSecretValue")


def test_given_the_review_api_function_when_synthesized_then_it_may_complete_this_state_machines_tasks(each_env):
    fn_lid, _ = each_env.function_for("review_api")
    _, sm = each_env.state_machine()
    name = sm["Properties"]["StateMachineName"]

    for action in ("states:SendTaskSuccess", "states:SendTaskFailure"):
        resources = [json.dumps(r) for r in each_env.allowed(fn_lid, action)]
        assert resources, f"{action} not allowed"
        # The ARN is built from the name (to avoid a cycle): it must name this state machine.
        assert all(r == '"*"' or r.endswith(f':stateMachine:{name}"]]}}') for r in resources), resources


def test_given_the_task_token_when_synthesized_then_it_never_appears_in_an_environment_variable(each_env):
    for lid, fn in each_env.of_type("AWS::Lambda::Function").items():
        env = json.dumps(fn["Properties"].get("Environment", {})).lower()
        for needle in ("task.token", "task_token", "tasktoken"):
            assert needle not in env, f"{lid}: {needle} in its environment"


def test_given_review_urls_when_synthesized_then_no_route_carries_a_token(each_env):
    for path in _paths(each_env).values():
        assert "token" not in path.lower(), path


def test_given_the_steps_function_when_synthesized_then_links_point_at_the_review_api(each_env):
    fn_lid, _ = each_env.function_for("workflow")
    api_lid, _ = each_env.one_of_type("AWS::ApiGateway::RestApi")
    base = json.dumps(each_env.env_vars(fn_lid)["REVIEW_BASE_URL"])

    assert api_lid in base
    assert each_env.env_vars(fn_lid)["LINK_TTL_SECONDS"] == str(each_env.config.review["link_ttl_seconds"])
