"""No wildcard in any IAM policy of any environment, except the documented ones below.

Walks every identity policy the synthesized template gives a role: inline policies on the
role, AWS::IAM::Policy resources attached to it, and the AWS managed policies in its
ManagedPolicyArns (their statements are listed here from the AWS managed policy reference,
since a template only names them). An Allow statement fails when

- an action holds a `*` (`s3:*`, and `s3:GetObject*` too: CDK's grant helpers emit those), or
  the statement uses NotAction / NotResource;
- a resource holds a `*`, unless it is a *scoped* one (below), or the statement is in
  ALLOWED with its reason.

Scoped resource (not a wildcard): one trailing `*` in a literal that starts with `/` or `:`,
right after a reference (Ref / Fn::GetAtt) to a resource of this same template: the objects
of one bucket (`bucket/*`, `bucket/indexes/*`), the indexes of one table (`table/index/*`),
the versions of one function (`function:*`). Such a `*` ranges over the children of one
resource this stack owns, never over other resources. A literal ARN with a `*`, a `*` inside the service/region/account/name part, and
`*` alone are wildcards.

Deny statements are not checked (a broad Deny only narrows).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from takedown_infra.config import ENVIRONMENTS


@dataclass(frozen=True)
class Allowed:
    role: str      # the role's logical id starts with this
    action: str    # exactly this action
    resource: str  # exactly this (wildcard) resource: the string, or an intrinsic as _key() writes it
    reason: str


def _key(resource: Any) -> str:
    """A resource as compared with ALLOWED: a string as is, an intrinsic as sorted JSON."""
    return resource if isinstance(resource, str) else json.dumps(resource, sort_keys=True)


XRAY = ("AWS X-Ray has no resource-level permissions: sending trace segments and telemetry requires "
        'Resource "*" (docs: X-Ray "Actions, resources, and condition keys"). Added by tracing=ACTIVE.')
XRAY_SAMPLING = ("AWS X-Ray has no resource-level permissions; Step Functions tracing also reads the "
                 'sampling rules, which require Resource "*". Added by tracing_enabled=True.')
CDK_PROVIDER_LOGS = ("CDK's own deploy-time provider function (not our code, runs only while CloudFormation "
                     "creates, updates or deletes the resource); CDK attaches AWSLambdaBasicExecutionRole "
                     "to its role, whose log actions are on \"*\" because the function's log group does "
                     "not exist before it first runs.")

FUNCTION_ROLES = ("IngestionShardMatchRole", "IngestionFingerprintRole", "NoticesDispatchRole",
                  "ReviewApiRole", "ReviewStepsRole", "ReconcilerReconcileRole", "ComplianceCheckRole",
                  "IndexBuildBuildFingerprintRole", "IndexBuildBuildReduceRole")
BUILD_CHILD_EXECUTIONS = ("A Distributed Map runs each batch as a child execution of its own state machine: "
                          "CDK grants the build's role Describe/Stop (and Redrive) on that state machine's "
                          "executions, whose ARNs exist only once started (the name part is the state "
                          "machine's own name, taken from its ARN).")
BUILD_RESULT_WRITER = ("The Distributed Map's ResultWriter writes each build's batch results under a prefix "
                       "CDK names per map run; CDK grants it on the objects of the one bucket made for it "
                       "(IndexBuild MapResults, 30-day expiry), which holds nothing else.")


def _build_executions(suffix: str) -> str:
    return _key({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":states:", {"Ref": "AWS::Region"}, ":",
                                   {"Ref": "AWS::AccountId"}, ":execution:",
                                   {"Fn::Select": [6, {"Fn::Split": [":", {"Ref": "IndexBuildCatalogueBuild99D49A76"}]}]},
                                   suffix]]})


_MAP_RESULTS = _key({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::",
                                       {"Ref": "IndexBuildMapResultsED499D22"}, "/*"]]})
RECONCILER_EXECUTIONS = ("The reconciler reads the execution of each stuck case (DescribeExecution), named "
                         "after the case: an execution's ARN exists only once it is started, so the grant "
                         "ranges over the executions of this stack's one state machine, takedown-case-<env>.")
SFN_LOG_DELIVERY = ("Step Functions logging (level ALL, to a log group with the environment's retention) needs the "
                    "CloudWatch Logs vended-delivery actions, which take no resource ARN: Resource \"*\" (docs: "
                    "Step Functions \"IAM policies for logging to CloudWatch Logs\"). Added by CDK with logs=.")
LOG_DELIVERY_ACTIONS = ("logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
                        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
                        "logs:DescribeLogGroups")
APIGW_LOGS = ("API Gateway writes a stage's execution logs to log groups it creates itself, named "
              "API-Gateway-Execution-Logs_<api id>/<stage>, under the account's one API Gateway role "
              "(components.ApiGatewayLogging): the grant ranges over those groups and their streams only.")
APIGW_DESCRIBE = "logs:DescribeLogGroups has no resource-level permissions (API Gateway's logging role needs it)."


def _apigw_execution_logs(suffix: str) -> str:
    return _key({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":logs:", {"Ref": "AWS::Region"}, ":",
                                   {"Ref": "AWS::AccountId"}, ":log-group:API-Gateway-Execution-Logs_*" + suffix]]})


CDK_PROVIDER_ROLES = ("CustomS3AutoDeleteObjectsCustomResourceProviderRole",  # auto_delete_objects (dev, staging)
                      "BucketNotificationsHandler")                            # S3 -> SQS notifications

ALLOWED: tuple[Allowed, ...] = (
    *(Allowed(role, action, "*", XRAY)
      for role in FUNCTION_ROLES for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords")),
    *(Allowed(role, action, "*", XRAY_SAMPLING)
      for role in ("WorkflowTakedownCaseRole", "IndexBuildCatalogueBuildRole")
      for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                     "xray:GetSamplingTargets")),
    *(Allowed("IndexBuildCatalogueBuildRole", action, _build_executions(":*"), BUILD_CHILD_EXECUTIONS)
      for action in ("states:DescribeExecution", "states:StopExecution")),
    Allowed("IndexBuildCatalogueBuildRole", "states:RedriveExecution", _build_executions("/*:*"),
            BUILD_CHILD_EXECUTIONS),
    *(Allowed("IndexBuildCatalogueBuildRole", action, _MAP_RESULTS, BUILD_RESULT_WRITER)
      for action in ("s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload")),
    *(Allowed("ReconcilerReconcileRole", "states:DescribeExecution",
              _key({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":states:", {"Ref": "AWS::Region"}, ":",
                                      {"Ref": "AWS::AccountId"}, f":execution:takedown-case-{env}:*"]]}),
              RECONCILER_EXECUTIONS) for env in ENVIRONMENTS),
    *(Allowed(role, action, "*", CDK_PROVIDER_LOGS)
      for role in CDK_PROVIDER_ROLES for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")),
    *(Allowed(role, action, "*", SFN_LOG_DELIVERY)
      for role in ("WorkflowTakedownCaseRole", "IndexBuildCatalogueBuildRole") for action in LOG_DELIVERY_ACTIONS),
    *(Allowed("ReviewApiGatewayLoggingRole", action, _apigw_execution_logs(suffix), APIGW_LOGS)
      for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents")
      for suffix in ("", ":*")),
    Allowed("ReviewApiGatewayLoggingRole", "logs:DescribeLogGroups", "*", APIGW_DESCRIBE),
)

# AWS managed policies a role may carry, with their statements (AWS managed policy reference).
# A role naming a managed policy not listed here fails: add its statements first.
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "service-role/AWSLambdaBasicExecutionRole": [
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "*"},
    ],
    "service-role/AmazonAPIGatewayPushToCloudWatchLogs": [
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
                                       "logs:DescribeLogStreams", "logs:PutLogEvents", "logs:GetLogEvents",
                                       "logs:FilterLogEvents"], "Resource": "*"},
    ],
}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def _managed_name(arn: Any) -> str:
    """'service-role/AWSLambdaBasicExecutionRole' from the ARN CDK writes (Fn::Join or Fn::Sub)."""
    if isinstance(arn, dict) and "Fn::Join" in arn:
        text = "".join(p if isinstance(p, str) else "" for p in arn["Fn::Join"][1])
    elif isinstance(arn, dict) and "Fn::Sub" in arn:
        text = arn["Fn::Sub"] if isinstance(arn["Fn::Sub"], str) else arn["Fn::Sub"][0]
    else:
        text = str(arn)
    marker = ":iam::aws:policy/"
    assert marker in text, f"not an AWS managed policy ARN: {arn}"
    return text.split(marker, 1)[1]


def role_statements(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(role logical id, where, statement) for every statement of every policy of every role."""
    res = template["Resources"]
    for lid, r in res.items():
        if r["Type"] != "AWS::IAM::Role":
            continue
        for pol in r["Properties"].get("Policies", []):
            for st in _list(pol["PolicyDocument"]["Statement"]):
                yield lid, f"inline {pol.get('PolicyName')}", st
        for arn in r["Properties"].get("ManagedPolicyArns", []):
            name = _managed_name(arn)
            assert name in MANAGED_POLICIES, f"{lid}: managed policy {name} is not in MANAGED_POLICIES: list its statements"
            for st in MANAGED_POLICIES[name]:
                yield lid, f"managed {name}", st
    for plid, p in res.items():
        if p["Type"] != "AWS::IAM::Policy":
            continue
        assert not p["Properties"].get("Users") and not p["Properties"].get("Groups"), plid
        for ref in p["Properties"].get("Roles", []):
            assert isinstance(ref, dict) and "Ref" in ref and ref["Ref"] in res, f"{plid}: role {ref}"
            for st in _list(p["Properties"]["PolicyDocument"]["Statement"]):
                yield ref["Ref"], f"policy {plid}", st


def _scoped_suffix(part: Any) -> bool:
    return isinstance(part, str) and part[:1] in ("/", ":") and part.endswith("*") and part.count("*") == 1


def is_wildcard_resource(resource: Any, template: dict[str, Any]) -> bool:
    """True for a resource with a `*` that is not scoped under a resource of this template."""
    if isinstance(resource, str):
        return "*" in resource
    text = json.dumps(resource)
    if "*" not in text:
        return False
    if isinstance(resource, dict) and set(resource) == {"Fn::Join"}:
        sep, parts = resource["Fn::Join"]
        if sep == "" and len(parts) == 2 and _scoped_suffix(parts[1]) and "*" not in json.dumps(parts[0]):
            ref = parts[0]
            lid = ref.get("Ref") if isinstance(ref, dict) else None
            if isinstance(ref, dict) and "Fn::GetAtt" in ref:
                lid = ref["Fn::GetAtt"][0]
            return lid not in template["Resources"]
    return True


def wildcard_findings(template: dict[str, Any]) -> tuple[list[str], set[Allowed]]:
    """(findings not covered by ALLOWED, the ALLOWED entries that covered something)."""
    findings, used = [], set()
    for role, where, st in role_statements(template):
        if st.get("Effect") != "Allow":
            continue
        if "NotAction" in st or "NotResource" in st:
            findings.append(f"{role} ({where}): NotAction/NotResource {st}")
            continue
        actions, resources = _list(st["Action"]), _list(st["Resource"])
        for action in actions:
            if "*" in action:
                findings.append(f"{role} ({where}): action {action}")
        for resource in resources:
            if not is_wildcard_resource(resource, template):
                continue
            for action in actions:
                entry = next((a for a in ALLOWED if role.startswith(a.role) and a.action == action
                              and _key(resource) == a.resource), None)
                if entry is None:
                    findings.append(f"{role} ({where}): {action} on {json.dumps(resource)}")
                else:
                    used.add(entry)
    return findings, used


def test_given_each_environment_when_synthesized_then_no_iam_policy_has_an_undocumented_wildcard(each_env):
    findings, _ = wildcard_findings(each_env.json)
    assert not findings, "wildcards not in ALLOWED:\n" + "\n".join(sorted(set(findings)))


def test_given_the_allow_list_then_every_entry_has_a_reason_and_is_still_needed(synths):
    used: set[Allowed] = set()
    for env in ENVIRONMENTS:
        used |= wildcard_findings(synths[env].json)[1]
    assert all(a.reason.strip() for a in ALLOWED)
    stale = [a for a in ALLOWED if a not in used]
    assert not stale, f"allow-list entries no environment needs any more (remove them): {stale}"


@pytest.mark.parametrize("resource,wild", [
    ("*", True),
    ("arn:aws:s3:::some-bucket/*", True),                                   # literal: not this stack's
    ({"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*"]]}, False),  # objects of our bucket
    ({"Fn::Join": ["", [{"Fn::GetAtt": ["Table", "Arn"]}, "/index/*"]]}, False),
    ({"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/indexes/*"]]}, False),
    ({"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*/x*"]]}, True),
    ({"Fn::Join": ["", [{"Fn::GetAtt": ["Other", "Arn"]}, "/*"]]}, True),   # not in the template
    ({"Fn::Join": ["", ["arn:aws:s3:::", {"Ref": "Bucket"}, "/*"]]}, True),  # built by hand: say why
    ({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":states:*:*:stateMachine:*"]]}, True),
    ({"Fn::GetAtt": ["Bucket", "Arn"]}, False),
])
def test_given_resource_forms_then_only_children_of_a_resource_of_this_stack_count_as_scoped(resource, wild):
    template = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}, "Table": {"Type": "AWS::DynamoDB::Table"}}}
    assert is_wildcard_resource(resource, template) is wild


def test_given_action_wildcards_and_not_action_then_they_are_findings():
    template = {"Resources": {
        "R": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject*"], "Resource": {"Fn::GetAtt": ["R", "Arn"]}},
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": {"Fn::GetAtt": ["R", "Arn"]}},
            {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
        ]}}]}}}}
    findings, _ = wildcard_findings(template)
    assert len(findings) == 2 and "s3:GetObject*" in findings[0] and "NotAction" in findings[1]
