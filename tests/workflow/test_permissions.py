"""Every AWS call our Lambda code makes in a full local run is allowed by that function's role.

moto does not enforce IAM, so a grant narrowed too far would only fail in AWS. This test
records, per function, each AWS API call its handler makes on the embedded stack (every
botocore client's API call, attributed to the handler running on that thread), maps it to
the IAM action(s) AWS checks, and asserts that the function's role in the synthesized
template allows each of them on the resource named in the call.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import threading
from collections import defaultdict
from typing import Any

import pytest

from takedown_local import driver, lambda_patch
from takedown_local.engine_cli import cmd_catalog_build
from takedown_local.runtime import LocalStack

from tests.workflow.conftest import uploads_dir

pytestmark = pytest.mark.timeout(240)

IAM_PREFIX = {"stepfunctions": "states"}
TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
S3_ACTION = {"HeadObject": "GetObject", "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
             "CompleteMultipartUpload": "PutObject", "ListObjectsV2": "ListBucket", "ListObjects": "ListBucket"}


def required(service: str, op: str, params: dict[str, Any]) -> list[tuple[str, str | None, bool]]:
    """(IAM action, name of the resource it acts on or None, object-level?) that AWS checks."""
    prefix = IAM_PREFIX.get(service, service)
    if service == "dynamodb":
        if op == "TransactWriteItems":
            return [(f"dynamodb:{TRANSACT[kind]}", body["TableName"], False)
                    for item in params["TransactItems"] for kind, body in item.items()]
        if params.get("IndexName"):  # an index is its own resource: <table ARN>/index/<name>
            return [(f"dynamodb:{op}", f"{params.get('TableName')}/index/{params['IndexName']}", False)]
        return [(f"dynamodb:{op}", params.get("TableName"), False)]
    if service == "s3":
        if op == "CopyObject":
            src = params["CopySource"]
            src_bucket = src["Bucket"] if isinstance(src, dict) else src.lstrip("/").split("/", 1)[0]
            return [("s3:GetObject", src_bucket, True), ("s3:PutObject", params["Bucket"], True)]
        action = S3_ACTION.get(op, op)
        return [(f"s3:{action}", params.get("Bucket"), action != "ListBucket")]
    if service == "lambda" and op == "Invoke":
        return [("lambda:InvokeFunction", params.get("FunctionName"), False)]
    return [(f"{prefix}:{op}", None, False)]


class Recorder:
    """AWS calls per handler, attributed through a per-thread stack of running handlers.

    Work a handler hands to a thread pool (s3transfer's downloads, the shard fan-out) runs
    with the submitting thread's stack, so its calls count as that handler's.
    """

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
        self._local = threading.local()
        self._lock = threading.Lock()

    def running(self) -> list[str]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    def wrap(self, original):
        def invoke_handler(handler_path: str, event: Any, context: Any):
            self.running().append(handler_path)
            try:
                return original(handler_path, event, context)
            finally:
                self.running().pop()

        return invoke_handler

    def wrap_submit(self, original):
        def submit(executor, fn, /, *args, **kwargs):
            inherited = list(self.running())

            def run(*a, **kw):
                mine = self.running()
                saved = list(mine)
                mine[:] = inherited
                try:
                    return fn(*a, **kw)
                finally:
                    mine[:] = saved

            return original(executor, run, *args, **kwargs)

        return submit

    def wrap_api_call(self, original):
        def _make_api_call(client, operation_name: str, api_params: dict[str, Any]):
            stack = self.running()
            if stack:
                with self._lock:
                    self.calls[stack[-1]].append((client.meta.service_model.service_name, operation_name, api_params))
            return original(client, operation_name, api_params)

        return _make_api_call


def _statements(template: dict[str, Any], fn_lid: str) -> list[dict[str, Any]]:
    res = template["Resources"]
    role = res[fn_lid]["Properties"]["Role"]["Fn::GetAtt"][0]
    out = [st for p in res[role]["Properties"].get("Policies", []) for st in p["PolicyDocument"]["Statement"]]
    for r in res.values():
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]:
            out.extend(r["Properties"]["PolicyDocument"]["Statement"])
    return out


def _allows(statements: list[dict[str, Any]], action: str, lid: str | None, object_level: bool,
            index: str | None = None) -> bool:
    """Whether a statement allows ``action`` on the resource ``lid`` (a DynamoDB ``index`` of it:
    only a resource naming that index; the table itself: never a resource naming an index)."""
    for st in statements:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        if st["Effect"] != "Allow" or not any(fnmatch.fnmatchcase(action, a) for a in actions):
            continue
        if lid is None:
            return True
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for r in resources:
            text = json.dumps(r)
            if lid not in text:
                continue
            named = re.findall(r'/index/([^"]*)', text)  # the index patterns this resource names
            if bool(named) != bool(index) or (index and not any(fnmatch.fnmatchcase(index, n) for n in named)):
                continue
            # an object-level S3 action needs the objects' ARN (bucket/...), a bucket-level one the bucket's
            if not object_level or '"/' in text:
                return True
    return False


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, media):
    """One full run on a catalogue published in two shards, so the shard function runs too."""
    from concurrent.futures import ThreadPoolExecutor

    from botocore.client import BaseClient

    tmp = tmp_path_factory.mktemp("permissions")
    rec = Recorder()
    saved, saved_call, saved_submit = lambda_patch.invoke_handler, BaseClient._make_api_call, ThreadPoolExecutor.submit
    lambda_patch.invoke_handler = rec.wrap(saved)
    BaseClient._make_api_call = rec.wrap_api_call(saved_call)
    ThreadPoolExecutor.submit = rec.wrap_submit(saved_submit)
    try:
        with LocalStack("dev", overrides={"match": {"shards_per_function": 1}}) as stack:
            index = tmp / "index"
            assert cmd_catalog_build(argparse.Namespace(dir=str(media["catalog"]), out=str(index), shards=2)) == 0
            driver.publish_index(stack, index)
            # an uploader: the evidence page counts their earlier notices
            sidecar = json.dumps({"source_url": "https://www.youtube.com/watch?v=perm", "platform": "youtube",
                                  "uploader": "perm_uploader"})
            up = uploads_dir(tmp, media, ["excerpt.mp3", "unrelated.ogg"], {"excerpt.json": sidecar})
            (up / "readme.txt").write_text("not audio at all")
            dropped = driver.drop_uploads(stack, up)
            driver.wait_ingested(stack, dropped, progress=False)
            repo = stack.repository()
            case_id = next(r.case_id for u in dropped if (r := repo.get_upload(u.bucket, u.key)) and r.case_id)
            driver.wait_for(lambda: driver.settled(stack, case_id), 60, "the case to reach review")
            url = driver._link_for(stack, repo.get_case(case_id).review_id)
            assert driver.http("GET", url)[0] == 200
            assert driver.http("HEAD", url)[0] == 200
            queue = {q["reviewer"]: q["url"] for q in stack.queue_links()}[repo.get_case(case_id).reviewer]
            status, page = driver.http("GET", queue)[:2]
            assert status == 200 and "1 case waiting" in page
            assert driver.decide_case(stack, case_id, "approve") == 200
            driver.wait_for(lambda: repo.get_case(case_id).status.value == "NOTICE_SENT", 60, "the notice")
            functions = {r.props["Handler"]: lid for lid, r in stack.resources.items()
                         if r.type == "AWS::Lambda::Function" and r.ref}
            names = {r.ref: lid for lid, r in stack.resources.items() if isinstance(r.ref, str)}
            names.update({r.attrs["Arn"]: lid for lid, r in stack.resources.items() if "Arn" in r.attrs})
            yield rec.calls, stack.template, functions, names
    finally:
        ThreadPoolExecutor.submit = saved_submit
        BaseClient._make_api_call = saved_call
        lambda_patch.invoke_handler = saved


def test_given_a_full_run_then_every_function_with_a_role_made_calls(recorded):
    calls, _, _, _ = recorded
    assert {h.split(".")[1] for h in calls} >= {"ingest", "shard_match", "workflow", "review_api", "notice"}
    assert ("lambda", "Invoke") in {(s, op) for s, op, _ in calls["takedown_handlers.ingest.handler"]}
    assert ("s3", "GetObject") in {(s, op) for s, op, _ in calls["takedown_handlers.shard_match.handler"]}
    review_ops = {op for _, op, _ in calls["takedown_handlers.review_api.handler"]}
    assert {"GetItem", "UpdateItem", "TransactWriteItems", "SendTaskSuccess", "GetSecretValue"} <= review_ops


def test_given_a_full_run_then_each_call_is_allowed_by_the_calling_functions_role(recorded):
    calls, template, functions, names = recorded
    missing = set()
    for handler, made in calls.items():
        statements = _statements(template, functions[handler])
        for service, op, params in made:
            for action, name, object_level in required(service, op, params):
                table, _, index = (name or "").partition("/index/")
                lid = names.get(table) if name else None
                if not _allows(statements, action, lid, object_level, index or None):
                    missing.add((handler, action, lid or name))
    assert not missing, "calls the role does not allow:\n" + "\n".join(map(str, sorted(missing, key=str)))


def test_given_the_review_api_then_it_calls_nothing_on_the_table_beyond_get_put_update_and_two_queries(recorded):
    calls, _, _, _ = recorded
    made = [(op, p) for s, op, p in calls["takedown_handlers.review_api.handler"] if s == "dynamodb"]
    actions = {a for op, p in made for a, _, _ in required("dynamodb", op, p)}
    assert actions <= {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}, actions
    queries = [p for op, p in made if op == "Query"]
    # the queue page's index query, and the evidence page's count of the uploader's notices
    assert {p.get("IndexName") for p in queries} == {"by-reviewer", None}
    assert all(p.get("Select") == "COUNT" for p in queries if not p.get("IndexName"))


def _partition_keys(op: str, params: dict[str, Any]) -> list[str]:
    if op == "Query":  # the table's partition key value a query names (an index query has its own key)
        return [] if params.get("IndexName") else [v["S"] for v in params["ExpressionAttributeValues"].values()]
    bodies = [b for item in params.get("TransactItems", []) for b in item.values()] if op == "TransactWriteItems" \
        else [params]
    return [(b.get("Key") or b.get("Item") or {})["pk"]["S"] for b in bodies]


def test_given_the_review_api_then_every_item_it_touches_is_in_a_partition_its_role_names(recorded):
    """The role's dynamodb:LeadingKeys conditions (REVIEW#*, CASE#*; UPLOADER#* to count) must
    cover what it does."""
    from takedown_infra.components import REVIEW_API_COUNT_PARTITIONS, REVIEW_API_PARTITIONS

    calls, _, _, _ = recorded
    made = [(op, p) for s, op, p in calls["takedown_handlers.review_api.handler"] if s == "dynamodb"]
    keys = [k for op, p in made if op != "Query" for k in _partition_keys(op, p)]
    assert keys and all(any(fnmatch.fnmatchcase(k, pat) for pat in REVIEW_API_PARTITIONS) for k in keys), keys
    counted = [k for op, p in made if op == "Query" for k in _partition_keys(op, p)]
    assert counted and all(any(fnmatch.fnmatchcase(k, pat) for pat in REVIEW_API_COUNT_PARTITIONS)
                           for k in counted), counted
