"""cdk-nag's AwsSolutions rules on every environment, and the findings this stack keeps, each
with its reason.

``add_checks(app)`` registers the rule pack as a policy-validation plugin (cdk-nag 3.x:
``Validations.of(app).add_plugins(...)``; the Aspects API of cdk-nag 2.x raises on this
aws-cdk-lib), so ``./go cdk synth|deploy`` fails on a new finding, and
``tests/infra/test_infra_nag.py`` does the same for dev, staging and prod. ``acknowledge(stack)``
records the findings that are by design, with the reason an auditor reads in the report.
Everything else the pack found was fixed in ``components.py`` (runtime, access logs, API and
state-machine logging, log retention, PITR, deletion protection).
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

IAM5_REASON = (
    "Every wildcard in every policy of every environment is checked by tests/infra/test_iam_policies.py: a '*' "
    "is allowed only over the children of one resource of this stack (a bucket's objects or a prefix of them, a "
    "table's indexes, a function's versions, a state machine's executions), or when that test's allow-list names "
    "the statement with its reason (X-Ray and CloudWatch Logs delivery actions, which take no resource ARN).")

# rule id -> reason; applied to the whole stack (each holds for every resource it names)
STACK_ACKNOWLEDGMENTS: dict[str, str] = {
    "AwsSolutions-APIG4": (
        "The review API is reached from a link in a reviewer's e-mail, with no login: each link is HMAC-signed, "
        "bound to one review, one case and one reviewer, expires, and decides only by a POST carrying a CSRF token "
        "bound to the same (takedown_core/review_links.py). Reviewers have no accounts an authorizer could check."),
    "AwsSolutions-COG4": (
        "No Cognito user pool: reviewers authenticate by the signed, expiring, single-use link (see APIG4)."),
    "AwsSolutions-APIG2": (
        "The function checks every parameter (link signature, expiry, CSRF token, decision, reason, note) and "
        "answers a reviewer with a plain HTML page saying what is wrong; API Gateway's request validator would "
        "answer JSON instead, and validates nothing the function does not."),
    "AwsSolutions-APIG3": (
        "No WAF web ACL: the API serves a handful of reviewers, is throttled at the stage (20 requests/s, burst "
        "40), and every request needs a valid HMAC signature before anything is read or written. A label that "
        "fronts its APIs with WAF attaches its ACL to the stage."),
}

# construct path (below the stack) -> {rule id: reason}
CONSTRUCT_ACKNOWLEDGMENTS: dict[str, dict[str, str]] = {
    "Review/LinkKey": {"AwsSolutions-SMG4": (
        "The review-link HMAC key is not rotated on a schedule: rotating it invalidates every review link in "
        "flight (up to the link lifetime). Rotate it by hand between review waves when it may have leaked.")},
    "Cases/Idempotency": {"AwsSolutions-DDB3": (
        "Powertools idempotency records live minutes to hours (TTL) and are rebuilt by the next delivery; "
        "nothing in this table must survive. The cases table has point-in-time recovery wherever data is kept.")},
}


def flatten_reference(node: Any) -> str:
    """A policy resource as cdk-nag 3.0.2 names it in a finding (utils/flatten-cfn-reference.js):
    Fn::Join joined, ``<Id.Attr>`` for Fn::GetAtt, ``<Id>`` for Ref, ``${X}`` as ``<X>``, any
    other intrinsic as its JSON."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if node.get("Fn::Join"):
            delimiter, items = node["Fn::Join"]
            return delimiter.join(flatten_reference(i) for i in items)
        if node.get("Fn::Sub"):
            return flatten_reference(node["Fn::Sub"])
        if node.get("Fn::GetAtt"):
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if node.get("Fn::ImportValue"):
            return flatten_reference(node["Fn::ImportValue"])
        if node.get("Ref"):
            return f"<{flatten_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def wildcard_findings(document: dict[str, Any]) -> list[str]:
    """The AwsSolutions-IAM5 finding ids of a resolved policy document (Allow statements only)."""
    out: list[str] = []
    for st in document.get("Statement") or []:
        if st.get("Effect") != "Allow":
            continue
        actions = st.get("Action") if isinstance(st.get("Action"), list) else [st.get("Action")]
        resources = st.get("Resource") if isinstance(st.get("Resource"), list) else [st.get("Resource")]
        out += [f"AwsSolutions-IAM5[Action::{a}]" for a in actions if isinstance(a, str) and "*" in a]
        out += [f"AwsSolutions-IAM5[Resource::{flat}]" for flat in map(flatten_reference, resources) if "*" in flat]
    return list(dict.fromkeys(out))


@jsii.implements(cdk.IAspect)
class _WildcardsCheckedByTest:
    """Acknowledges each IAM5 finding of each policy by its own id (cdk-nag matches ids
    exactly), once the policies are complete: an aspect runs after every grant."""

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, iam.CfnPolicy):
            document = cdk.Stack.of(node).resolve(node.policy_document)
            for finding in wildcard_findings(document):
                cdk.Validations.of(node).acknowledge(cdk.Acknowledgment(id=finding, reason=IAM5_REASON))


def acknowledge(stack: cdk.Stack) -> None:
    """Record this stack's by-design findings (above) on their constructs."""
    cdk.Aspects.of(stack).add(_WildcardsCheckedByTest())
    for rule, reason in STACK_ACKNOWLEDGMENTS.items():
        cdk.Validations.of(stack).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))
    for path, rules in CONSTRUCT_ACKNOWLEDGMENTS.items():
        node = stack.node.try_find_child(path.split("/")[0])
        for part in path.split("/")[1:]:
            node = node.node.try_find_child(part) if node is not None else None
        if node is None:
            continue  # not in this environment
        for rule, reason in rules.items():
            cdk.Validations.of(node).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))
    if not getattr(stack, "retain_data", True):
        cdk.Validations.of(stack).acknowledge(cdk.Acknowledgment(id="AwsSolutions-DDB3", reason=(
            "dev and staging keep no data that must survive (removal: destroy); prod's cases table has "
            "point-in-time recovery and deletion protection.")))
    # CDK's own custom resource that configures S3 event notifications on the partner buckets
    for child in stack.node.children:
        if child.node.id.startswith("BucketNotificationsHandler"):
            cdk.Validations.of(child).acknowledge(cdk.Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                reason=(
                "CDK's BucketNotificationsHandler (it writes the partner buckets' event notifications at deploy "
                "time) has AWSLambdaBasicExecutionRole, which CDK does not let a stack replace.")))


def add_checks(scope: Construct) -> None:
    """Register cdk-nag's AwsSolutions pack on ``scope`` (an App or a Stage)."""
    from cdk_nag import AwsSolutionsChecks

    cdk.Validations.of(scope).add_plugins(AwsSolutionsChecks(scope))
