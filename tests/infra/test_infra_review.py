"""Review: signing key, review API (GET/HEAD page, POST decision) and its callback rights."""

from __future__ import annotations

import json
import re

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
        ("ANY", "/review/{review_id}"),
        ("POST", "/review/{review_id}/decision"),
        ("ANY", "/review/{review_id}/decision"),
        ("GET", "/queue"),
        ("HEAD", "/queue"),
        ("ANY", "/queue"),
    }


def test_given_other_methods_when_synthesized_then_they_reach_the_function_not_api_gateways_403(each_env):
    # ANY catches every method without its own (PUT, DELETE, PATCH, OPTIONS; GET/HEAD on the
    # decision) and proxies it to the review function, which answers 405 (tests/workflow)
    # instead of API Gateway's own 403 "Missing Authentication Token".
    api_lid, _ = each_env.function_for("review_api")
    paths = _paths(each_env)
    for m in each_env.of_type("AWS::ApiGateway::Method").values():
        if m["Properties"]["HttpMethod"] == "ANY":
            assert paths[m["Properties"]["ResourceId"]["Ref"]].startswith(("/review/{review_id}", "/queue"))
            assert m["Properties"]["Integration"]["Type"] == "AWS_PROXY"
            assert api_lid in json.dumps(m["Properties"]["Integration"]["Uri"])
            assert m["Properties"]["AuthorizationType"] == "NONE"


def test_given_the_decision_route_when_synthesized_then_only_post_is_routed_to_deciding(each_env):
    # GET/HEAD on the decision arrive through ANY; the function refuses every method but POST
    deciding = {(verb, p) for verb, p in _methods(each_env) if p.endswith("/decision")}
    assert deciding == {("POST", "/review/{review_id}/decision"), ("ANY", "/review/{review_id}/decision")}


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
    sm_lid, _ = each_env.state_machine()

    # CDK's own grant (state_machine.grant_task_response), on this state machine by reference
    for action in ("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"):
        assert each_env.allowed(fn_lid, action) == [{"Ref": sm_lid}], action


REVIEW_API_TABLE_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}


def test_given_the_internet_facing_review_api_when_synthesized_then_it_may_only_get_put_and_update_table_items(each_env):
    fn_lid, _ = each_env.function_for("review_api")
    table_lid = each_env.env_vars(fn_lid)["TABLE_NAME"]["Ref"]
    dynamo = [st for st in each_env.role_statements(fn_lid)
              if any(a.startswith("dynamodb:") for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]]))]

    # and Query twice: the reviewers' queue index, and a count of an uploader's earlier notices
    queries = [st for st in dynamo if st["Action"] == "dynamodb:Query"]
    assert len(queries) == 2 and all(st["Effect"] == "Allow" for st in queries)
    queue = [st for st in queries if "Condition" not in st]
    assert len(queue) == 1
    assert queue[0]["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [table_lid, "Arn"]}, "/index/by-reviewer"]]}
    count = [st for st in queries if "Condition" in st][0]
    assert count["Resource"] == {"Fn::GetAtt": [table_lid, "Arn"]}
    assert count["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["UPLOADER#*"]},
                                  "StringEquals": {"dynamodb:Select": "COUNT"}}
    dynamo = [st for st in dynamo if st not in queries]
    assert len(dynamo) == 1, dynamo
    assert dynamo[0]["Effect"] == "Allow"
    assert set(dynamo[0]["Action"]) == REVIEW_API_TABLE_ACTIONS
    # the table itself, not its indexes (the API never queries them) and not any other table
    assert dynamo[0]["Resource"] == {"Fn::GetAtt": [table_lid, "Arn"]}
    # and only the partitions of reviews and cases (their audit events share the case's partition)
    assert dynamo[0]["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["REVIEW#*", "CASE#*"]}}
    for forbidden in ("dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                      "dynamodb:BatchGetItem", "dynamodb:DescribeTable"):
        assert not each_env.allowed(fn_lid, forbidden), forbidden
    # never by-status, and the table itself only to count an uploader's partition
    assert each_env.allowed(fn_lid, "dynamodb:Query") == [queue[0]["Resource"], count["Resource"]]


def _references(value, out: set[str]) -> set[str]:
    """Logical ids a template value refers to (Ref, Fn::GetAtt, ${X} / ${X.Attr} in Fn::Sub)."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            out.add(value["Ref"])
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            out.add(att[0] if isinstance(att, list) else att.split(".", 1)[0])
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            text = sub if isinstance(sub, str) else sub[0]
            out.update(m.split(".", 1)[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
        for v in value.values():
            _references(v, out)
    elif isinstance(value, list):
        for v in value:
            _references(v, out)
    return out


def _cycle(resources: dict) -> list[str] | None:
    """A dependency cycle among the template's resources (references and DependsOn), or None."""
    deps = {}
    for lid, r in resources.items():
        depends = r.get("DependsOn", [])
        refs = _references(r.get("Properties", {}), set()) | set([depends] if isinstance(depends, str) else depends)
        deps[lid] = {d for d in refs if d in resources}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(lid):
        state[lid] = 1
        path.append(lid)
        for d in sorted(deps[lid]):
            if state.get(d) == 1:
                return path[path.index(d):] + [d]
            if d not in state and (found := visit(d)):
                return found
        state[lid] = 2
        path.pop()
        return None

    for lid in sorted(resources):
        if lid not in state and (found := visit(lid)):
            return found
    return None


def test_given_the_task_token_grant_when_synthesized_then_the_template_has_no_dependency_cycle(each_env):
    # state machine -> steps function -> its REVIEW_BASE_URL -> ... -> API function's policy -> state machine
    # would be a cycle CloudFormation refuses at deploy time; synthesis alone does not catch it.
    assert _cycle(each_env.resources) is None


def test_given_the_steps_function_when_synthesized_then_review_base_url_is_the_stages_url_built_from_the_rest_api(each_env):
    fn_lid, _ = each_env.function_for("workflow")
    api_lid, _ = each_env.one_of_type("AWS::ApiGateway::RestApi")
    stage_lid, stage = each_env.one_of_type("AWS::ApiGateway::Stage")
    base = each_env.env_vars(fn_lid)["REVIEW_BASE_URL"]

    # the same URL as the stage's own (api.url, the stack output), with the stage's name in
    # place of a reference to the Stage resource, which would close the cycle above
    stage_url = each_env.json["Outputs"]["ReviewApiUrl"]["Value"]
    expected = json.loads(json.dumps(stage_url).replace(json.dumps({"Ref": stage_lid}),
                                                        json.dumps(stage["Properties"]["StageName"])))
    sep, parts = expected["Fn::Join"]
    merged: list = []
    for p in parts:  # adjacent literals joined, as CDK writes them
        if isinstance(p, str) and merged and isinstance(merged[-1], str):
            merged[-1] += p
        else:
            merged.append(p)
    assert base == {"Fn::Join": [sep, merged]}
    assert base["Fn::Join"][1][:2] == ["https://", {"Ref": api_lid}]
    assert base["Fn::Join"][1][-1] == "/v1/"
    assert stage_lid not in json.dumps(base)


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
