"""One construct per concern. Each takes keyword-only props and exposes its resources.

The stack (stack.py) composes them and makes the grants. Nothing here reads the environment
name: differences between environments arrive as props from config.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secrets
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from .layer import dependencies_layer_code
from .partner_access import PARTNER_ACTIONS, principal_kind
from .tuning import SEARCH_GLIBC_TUNABLES

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
RUNTIME = lambda_.Runtime.PYTHON_3_14  # the newest Python Lambda runs (cdk-nag AwsSolutions-L1); the layer is built for it
INGEST_MAX_RECEIVES = 5          # deliveries before a message goes to the DLQ
INGEST_BATCH_SIZE = 5            # S3 events per fingerprint invocation
INGEST_TIMEOUT = 900             # seconds (Lambda's maximum): the function waits for its shard functions,
#                                  and with the wide search one full shard takes ~45 s of CPU for a 3-minute
#                                  upload (bench/scaling.py, README "cost"): a 15-minute one, ~450 s for two
INGEST_MEMORY = 1769             # MB; one full vCPU. The cheapest on the measured curve (bench/monthly_cost.py: a 3-minute
#                                  upload 3.79 GB-s here, 3.88-4.06 below, 4.70-5.99 above; README "The whole workflow's monthly bill")
SHARD_MATCH_MEMORY = 3008        # MB; two full shards with the wide search's triplets (871 MB of arrays each):
#                                  2,544 MB resident after a 3-minute upload (862 heap, 1,681 mapped index pages) in
#                                  bench/scaling.py's cold start, 2,220 after 10 s queries: 1,769 MB would be killed
SHARD_MATCH_TIMEOUT = 840        # seconds; a 15-minute query against two full shards (~450 s measured-projected),
#                                  under the caller's INGEST_TIMEOUT so the caller sees the failure
RECONCILE_EVERY = 15             # minutes between reconciler passes
STUCK_AFTER = 15 * 60            # seconds a live case may go untouched before the reconciler looks at it
# Errors a step may raise that say "try again later" (the handler's exception class names, and
# Lambda's own), retried with backoff by the state machine.
TRANSIENT_ERRORS = ["TransientError", "Lambda.ServiceException", "Lambda.TooManyRequestsException",
                    "Lambda.SdkClientException", "Lambda.AWSLambdaException"]
INDEX_PREFIX = "indexes"         # the catalogue bucket's index versions and CURRENT (S3IndexStore.PREFIX)
# The steps function cuts the review clips (bench/clips.py, 9 clips of a 15-minute upload at
# 1.04x: 2.4 s of CPU for AAC-in-MP4, 3.3 s for an MP3 read up to each clip; 50-65 MB on top of
# ~115 MB for Python, boto3, numpy and PyAV). 1,024 MB buys ~0.58 vCPU (~6 s for that work);
# 60 s leaves room for ~170 ranged GETs of an MP3 and SES, and the ~10x margin for slow S3.
REVIEW_STEPS_MEMORY = 1024       # MB
REVIEW_STEPS_TIMEOUT = 60        # seconds
CLIPS_PREFIX = "clips"           # the evidence bucket's review clips (takedown_core.clips.clip_prefix)
REVIEW_STAGE = "v1"              # the review API's one stage: links are https://{api}/v1/review/{id}
# What the review API's function may do on the cases table, and nothing else (it is reachable
# from the internet): read a review and its case (GetItem), mark the review used (UpdateItem),
# and write the case with its audit event (TransactWriteItems of Puts, and PutItem for an audit
# event alone). No Scan, DeleteItem or batch writes; Query only as below.
REVIEW_API_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
REVIEW_API_PARTITIONS = ("REVIEW#*", "CASE#*")  # the partition keys it reads and writes (dynamo.py's layout)
# And one read of an index: a reviewer's queue page queries the sparse by-reviewer index (cases
# waiting for a reviewer, which GetItem on CASE#* could read one by one anyway). Query only,
# on that index only: never the table itself, never the by-status index.
REVIEW_API_QUEUE_INDEX = "by-reviewer"
# And a count: the evidence page says how many earlier notices the uploader drew (a COUNT query
# of the UPLOADER#<platform>#<uploader> partition, dynamo.py's notices_for). Query with
# Select=COUNT on those partitions only: it can count them, never read an item.
REVIEW_API_COUNT_PARTITIONS = ("UPLOADER#*",)


def review_base_url(api: apigw.IRestApi, stage_name: str) -> str:
    """The stage's invoke URL (what ``api.url`` gives), built from the RestApi id and the stage name.

    ``api.url`` refers to the Stage resource, which depends on the deployment, every method,
    the API function and so that function's role policy; the policy grants the task-token
    callbacks on the state machine, and the state machine invokes the steps function whose
    environment holds this URL: a cycle. The RestApi resource alone depends on none of them.
    """
    stack = cdk.Stack.of(api)
    return f"https://{api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}/{stage_name}/"


def grant_read_objects(bucket: s3.IBucket, fn: lambda_.Function, *, prefix: str = "", tags: bool = False) -> None:
    """s3:GetObject on the bucket's objects (under ``prefix``) and s3:ListBucket on the bucket.

    Not bucket.grant_read, which grants s3:GetObject*, s3:GetBucket* and s3:List* (ACLs,
    versions, torrents, every bucket setting, every listing). ListBucket stays: without it S3
    answers a missing key with 403 instead of 404, and the code tells a missing object
    (NoSuchKey: no sidecar, no index yet) from a failure. ``tags``: s3:GetObjectTagging too,
    for a CopyObject from here (it copies the source's tags by default).
    """
    actions = ["s3:GetObject", "s3:GetObjectTagging"] if tags else ["s3:GetObject"]
    fn.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[bucket.arn_for_objects(f"{prefix}*")]))
    fn.add_to_role_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))


def partner_write_statement(bucket: s3.IBucket, principal: str) -> iam.PolicyStatement:
    """The landing bucket's grant to its partner, cross-account: s3:PutObject and
    s3:AbortMultipartUpload on this bucket's objects only (partner_access.PARTNER_ACTIONS),
    for the partner's account (``111122223333``) or one IAM role or user (an ARN)."""
    who = (iam.AccountPrincipal(principal) if principal_kind(principal) == "account"
           else iam.ArnPrincipal(principal))
    return iam.PolicyStatement(sid="PartnerWritesUploads", principals=[who], actions=list(PARTNER_ACTIONS),
                               resources=[bucket.arn_for_objects("*")])


def _removal(retain: bool) -> cdk.RemovalPolicy:
    return cdk.RemovalPolicy.RETAIN if retain else cdk.RemovalPolicy.DESTROY


# CloudWatch Logs' allowed retention periods, in days (PutRetentionPolicy's retentionInDays).
LOG_RETENTION = {1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
                 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
                 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS",
                 1096: "THREE_YEARS", 1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS",
                 2922: "EIGHT_YEARS", 3288: "NINE_YEARS", 3653: "TEN_YEARS"}


SSM_STANDARD_BYTES = 4096   # Parameter Store's standard tier; the advanced tier holds 8 KB
SSM_ADVANCED_BYTES = 8192
TOKEN_BYTES = 128           # what an unresolved reference (a bucket name, an ARN) may become


def settings_parameter_name(scope: Construct, key: str) -> str:
    """``/takedown/<env>/<key>``: PLATFORM_LOCATIONS -> /takedown/dev/platform-locations."""
    stack = cdk.Stack.of(scope)
    return f"/takedown/{getattr(stack, 'env_name', stack.stack_name)}/{key.lower().replace('_', '-')}"


def settings_parameter(scope: Construct, key: str, value: str) -> ssm.StringParameter:
    """Settings a function reads as JSON (partners, platforms, reviewers, likeness terms) in SSM
    Parameter Store at ``/takedown/<env>/<key>``, not in its environment: Lambda caps a function's
    variables at 4 KB in all, which a label's platform registry and artist list outgrow. The
    standard tier up to 4 KB, the advanced tier (8 KB) above; more refuses synthesis.

    Raises ValueError when ``value`` cannot fit in 8 KB."""
    estimate = len(re.sub(r"\$\{Token\[[^\]]*\]\}", "x" * TOKEN_BYTES, value).encode())
    if estimate > SSM_ADVANCED_BYTES:
        raise ValueError(f"setting {key} is {estimate} bytes; SSM Parameter Store holds at most {SSM_ADVANCED_BYTES}")
    name = key.lower().replace("_", "-")
    return ssm.StringParameter(
        scope, f"{key.title().replace('_', '')}Setting",
        parameter_name=settings_parameter_name(scope, key),
        string_value=value,
        tier=ssm.ParameterTier.ADVANCED if estimate > SSM_STANDARD_BYTES else ssm.ParameterTier.STANDARD,
        description=f"takedown settings: {name} (JSON, from cdk.json; read by the functions through Powertools Parameters)",
    )


def _ops(scope: Construct) -> tuple[int, bool]:
    """(log retention in days, retain data) of the stack ``scope`` is in: TakedownStack sets
    ``log_retention_days`` and ``retain_data`` from cdk.json before it adds any construct."""
    stack = cdk.Stack.of(scope)
    return int(getattr(stack, "log_retention_days", 30)), bool(getattr(stack, "retain_data", False))


def log_group(scope: Construct, cid: str) -> logs.LogGroup:
    """A log group with the environment's retention (``logs.retention_days`` in cdk.json),
    kept with the stack's data in prod."""
    days, retain = _ops(scope)
    return logs.LogGroup(scope, cid, retention=getattr(logs.RetentionDays, LOG_RETENTION[days]),
                         removal_policy=_removal(retain))


def access_log_bucket(scope: Construct) -> s3.Bucket:
    """The stack's one bucket for S3 server access logs (and nothing else), made on first use.
    Logs expire with the environment's log retention. SSE-S3: S3 log delivery cannot write
    to a KMS-encrypted target."""
    stack = cdk.Stack.of(scope)
    found = stack.node.try_find_child("AccessLogs")
    if found is not None:
        return found  # type: ignore[return-value]
    days, retain = _ops(scope)
    return s3.Bucket(
        stack, "AccessLogs",
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(days))],
        removal_policy=_removal(retain),
        auto_delete_objects=not retain,
    )


def _private_bucket(scope: Construct, cid: str, *, retain: bool, **kw: Any) -> s3.Bucket:
    """Encrypted, never public, TLS only, its server access logs in the stack's log bucket
    under ``<construct path>/``."""
    return s3.Bucket(
        scope,
        cid,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        removal_policy=_removal(retain),
        auto_delete_objects=not retain,  # dev/staging tear down cleanly; prod keeps everything
        server_access_logs_bucket=access_log_bucket(scope),
        server_access_logs_prefix=f"{scope.node.path.split('/', 1)[-1]}/{cid}/",
        **kw,
    )


def state_machine_logs(scope: Construct, cid: str) -> sfn.LogOptions:
    """Every event of every execution (level ALL) to a log group with the environment's
    retention, without the states' input and output: those carry uploaders, URLs and task
    tokens, which stay in the execution history and the cases table."""
    return sfn.LogOptions(destination=log_group(scope, cid), level=sfn.LogLevel.ALL, include_execution_data=False)


class LambdaCode(Construct):
    """The functions/ asset and the dependency layer, shared by every function."""

    def __init__(self, scope: Construct, cid: str) -> None:
        super().__init__(scope, cid)
        self.code = lambda_.Code.from_asset(
            str(FUNCTIONS_DIR), exclude=["**/__pycache__", "**/*.pyc", "*.egg-info"]
        )
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=dependencies_layer_code(),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="numpy, PyAV, powertools, Jinja2 (pinned in requirements.txt)",
        )

    def function(self, scope: Construct, cid: str, *, handler: str, env: dict[str, str],
                 settings: dict[str, str] | None = None, **kw: Any) -> lambda_.Function:
        """A function of this stack. ``settings``: JSON documents it reads (key -> JSON text), each
        in its own SSM parameter (``settings_parameter``); the function gets ``<KEY>_PARAMETER``
        naming it and read access to it alone (the handlers' ``env_json`` reads either form)."""
        params = {key: settings_parameter(scope, key, value) for key, value in (settings or {}).items()}
        env = {**env, **{f"{key}_PARAMETER": settings_parameter_name(scope, key) for key in params}}
        # Its own role and log group. The role CDK would make carries the AWS managed policy
        # AWSLambdaBasicExecutionRole (logs:CreateLogGroup/CreateLogStream/PutLogEvents on "*");
        # this one may write to this function's log group and has only the grants the stack makes.
        role = iam.Role(scope, f"{cid}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        group = log_group(scope, f"{cid}Logs")
        group.grant_write(role)
        fn = lambda_.Function(
            scope,
            cid,
            role=role,
            log_group=group,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            code=self.code,
            handler=handler,
            layers=[self.layer],
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "POWERTOOLS_SERVICE_NAME": "takedown",
                "POWERTOOLS_METRICS_NAMESPACE": "Takedown",
                "LOG_LEVEL": "INFO",
                **env,
            },
            **kw,
        )
        for p in params.values():
            fn.add_to_role_policy(iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[p.parameter_arn]))
        return fn


class Cases(Construct):
    """The single table for cases, audit, reviews, notices, submissions; plus idempotency, and
    the evidence bucket: each case's full match evidence (the item keeps a bounded copy)."""

    def __init__(self, scope: Construct, cid: str, *, retain: bool) -> None:
        super().__init__(scope, cid)
        self.table = ddb.Table(
            self,
            "Table",
            partition_key=ddb.Attribute(name="pk", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="sk", type=ddb.AttributeType.STRING),
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="ttl",
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=retain
            ),
            deletion_protection=retain,  # prod: DeleteTable is refused until someone turns this off
            removal_policy=_removal(retain),
        )
        self.table.add_global_secondary_index(
            index_name="by-status",
            partition_key=ddb.Attribute(name="gsi1pk", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="gsi1sk", type=ddb.AttributeType.STRING),
        )
        # Sparse: only cases waiting for a reviewer carry gsi2pk (dynamo.py), so a reviewer's
        # queue is one query on their partition.
        self.table.add_global_secondary_index(
            index_name="by-reviewer",
            partition_key=ddb.Attribute(name="gsi2pk", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="gsi2sk", type=ddb.AttributeType.STRING),
        )
        # Evidence is what a notice rests on: versioned, and kept in prod whatever happens to the stack.
        self.evidence = _private_bucket(self, "Evidence", retain=retain, versioned=True)
        self.idempotency = ddb.Table(
            self,
            "Idempotency",
            partition_key=ddb.Attribute(name="id", type=ddb.AttributeType.STRING),
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expiration",
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )


class Catalogue(Construct):
    """Versioned, immutable fingerprint index in S3 (indexes/<version>/...; CURRENT points)."""

    def __init__(self, scope: Construct, cid: str, *, retain: bool) -> None:
        super().__init__(scope, cid)
        self.bucket = _private_bucket(self, "IndexBucket", retain=retain, versioned=True)


class Ingestion(Construct):
    """Partner landing buckets -> ingest queue (DLQ) -> fingerprint Lambda."""

    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        partners: list[dict[str, Any]],
        retain: bool,
        code: LambdaCode,
        table: ddb.Table,
        idempotency: ddb.Table,
        catalogue: s3.Bucket,
        evidence: s3.Bucket,
        platforms: dict[str, Any],
        limits: dict[str, Any],
        match: dict[str, Any],
        likeness: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, cid)
        self.dlq = sqs.Queue(
            self, "IngestDLQ", retention_period=cdk.Duration.days(14), enforce_ssl=True
        )
        self.queue = sqs.Queue(
            self,
            "IngestQueue",
            visibility_timeout=cdk.Duration.seconds(INGEST_TIMEOUT * 6),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=INGEST_MAX_RECEIVES),
            enforce_ssl=True,
        )
        self.quarantine = _private_bucket(self, "Quarantine", retain=retain)
        self.partner_buckets: dict[str, s3.Bucket] = {}
        for p in partners:
            # BucketOwnerEnforced: ACLs off, so what a partner's account writes is owned by this
            # account and the fingerprint function can read it
            b = _private_bucket(self, f"Landing-{p['id']}", retain=retain,
                                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED)
            b.add_event_notification(s3.EventType.OBJECT_CREATED, s3n.SqsDestination(self.queue))
            if p.get("principal"):
                b.add_to_resource_policy(partner_write_statement(b, p["principal"]))
            cdk.Tags.of(b).add("takedown:partner", p["id"])
            self.partner_buckets[p["id"]] = b
        partner_env = cdk.Stack.of(self).to_json_string(
            [
                {
                    "id": p["id"],
                    "bucket": self.partner_buckets[p["id"]].bucket_name,
                    "default_platform": p["default_platform"],
                    "location_template": p.get("location_template"),
                }
                for p in partners
            ]
        )
        # A catalogue with more shards than SHARDS_PER_FUNCTION is searched by this function,
        # one invocation per group of shards, in parallel; the fingerprint function merges.
        self.shard_function = code.function(
            self,
            "ShardMatch",
            handler="takedown_handlers.shard_match.handler",
            memory_size=SHARD_MATCH_MEMORY,
            timeout=cdk.Duration.seconds(SHARD_MATCH_TIMEOUT),
            ephemeral_storage_size=cdk.Size.mebibytes(4096),
            # glibc keeps the search's big temporaries between queries (tuning.py)
            env={"CATALOG_BUCKET": catalogue.bucket_name, "GLIBC_TUNABLES": SEARCH_GLIBC_TUNABLES},
        )
        grant_read_objects(catalogue, self.shard_function, prefix=f"{INDEX_PREFIX}/")
        self.function = code.function(
            self,
            "Fingerprint",
            handler="takedown_handlers.ingest.handler",
            memory_size=INGEST_MEMORY,
            timeout=cdk.Duration.seconds(INGEST_TIMEOUT),
            ephemeral_storage_size=cdk.Size.mebibytes(4096),
            env={
                "TABLE_NAME": table.table_name,
                "IDEMPOTENCY_TABLE": idempotency.table_name,
                "CATALOG_BUCKET": catalogue.bucket_name,
                "QUARANTINE_BUCKET": self.quarantine.bucket_name,
                "EVIDENCE_BUCKET": evidence.bucket_name,
                "MAX_UPLOAD_BYTES": str(int(limits["max_upload_mb"]) * 1024 * 1024),
                "MAX_AUDIO_SECONDS": str(limits["max_audio_seconds"]),
                "MAX_FALSE_MATCH_RATE": str(match["max_false_match_rate"]),
                "STAY_DOWN_AUTO_APPROVE": "true" if match.get("stay_down_auto_approve") else "false",
                "SHARDS_PER_FUNCTION": str(int(match.get("shards_per_function", 0))),
                "SHARD_MATCH_FUNCTION": self.shard_function.function_name,
                "GLIBC_TUNABLES": SEARCH_GLIBC_TUNABLES,  # it searches unsharded catalogues itself
            },
            settings={
                "PARTNERS": partner_env,
                # only what ingest reads of each platform (where an item lives, whose uploads are
                # licensed). Its own name: the local runtime runs every function in one process.
                "PLATFORM_LOCATIONS": _compact({p: {k: v for k, v in doc.items() if k in ("location", "licensed_uploaders")}
                                                for p, doc in platforms.items()}),
                # the deepfake signal's artists and terms (takedown_core.likeness)
                "LIKENESS": _compact(likeness or {}),
            },
        )
        self.shard_function.grant_invoke(self.function)
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue, batch_size=INGEST_BATCH_SIZE, report_batch_item_failures=True
            )
        )
        for b in self.partner_buckets.values():
            grant_read_objects(b, self.function, tags=True)  # media and sidecars; copied to quarantine
        # quarantine: PutObject (the reason file, the copy) and PutObjectTagging (the copy keeps
        # the partner's tags); not grant_put's s3:Abort*, legal holds or retention
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:PutObject", "s3:PutObjectTagging"], resources=[self.quarantine.arn_for_objects("*")]))
        # evidence: the full match evidence is written per submission, then copied under its case
        # (CopyObject reads the source and its tags, writes the copy); never deleted or overwritten by hand
        grant_read_objects(evidence, self.function, tags=True)
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:PutObject", "s3:PutObjectTagging"], resources=[evidence.arn_for_objects("*")]))
        grant_read_objects(catalogue, self.function, prefix=f"{INDEX_PREFIX}/")
        table.grant_read_write_data(self.function)
        idempotency.grant_read_write_data(self.function)


def _compact(doc: Any) -> str:
    """JSON for an environment variable: no spaces, UTF-8 kept (Lambda's 4 KB counts bytes)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def _slug(text: str) -> str:
    """A construct id part from a name: letters and digits only, plus a digest so two names
    that differ only in punctuation stay apart."""
    import hashlib

    return "".join(ch for ch in text.title() if ch.isalnum())[:40] + hashlib.sha256(text.encode()).hexdigest()[:6]


class Notices(Construct):
    """Renders a legal notice from an approved case and sends it on the platform's channel."""

    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        code: LambdaCode,
        table: ddb.Table,
        sender: str,
        complainant: dict[str, Any],
        platforms: dict[str, Any],
        evidence: s3.IBucket,
        rights_desk: str | None,
        api_secrets: list[str],
    ) -> None:
        super().__init__(scope, cid)
        self.sender_identity = ses.EmailIdentity(self, "Sender", identity=ses.Identity.email(sender))
        self.function = code.function(
            self,
            "Dispatch",
            handler="takedown_handlers.notice.handler",
            timeout=cdk.Duration.seconds(30),
            memory_size=256,
            env={
                "TABLE_NAME": table.table_name,
                "SENDER": sender,
                "EVIDENCE_BUCKET": evidence.bucket_name,
                "RIGHTS_DESK": rights_desk or "",
            },
            settings={
                "COMPLAINANT": _compact(complainant),
                # the registry's routes (how each platform takes notices), not ingest's location rules
                "PLATFORMS": _compact({p: {k: v for k, v in doc.items() if k not in ("location", "licensed_uploaders")}
                                       for p, doc in platforms.items()}),
            },
        )
        table.grant_read_write_data(self.function)
        self.sender_identity.grant_send_email(self.function)
        # every notice is kept exactly as sent, beside the evidence it rests on
        # (s3:PutObject only, not bucket.grant_put's Abort* and object-ACL wildcards)
        self.function.add_to_role_policy(iam.PolicyStatement(actions=["s3:PutObject"],
                                                             resources=[evidence.arn_for_objects("notices/*")]))
        # the API platforms' signing secrets, by name (Secrets Manager appends a random suffix)
        for name in api_secrets:
            secrets.Secret.from_secret_name_v2(self, f"ApiSecret{_slug(name)}", name).grant_read(self.function)


class ApiGatewayLogging(Construct):
    """API Gateway writes stage logs through one role per account and region
    (AWS::ApiGateway::Account): this stack sets it to a role that may write only API Gateway's
    log groups (its execution logs, ``API-Gateway-Execution-Logs_<api id>/<stage>``, and the
    access log group). Account-wide: kept when the stack is deleted (another API may rely on
    it), and the last stack deployed in the account and region sets it."""

    def __init__(self, scope: Construct, cid: str, *, api: apigw.RestApi, access_logs: logs.LogGroup) -> None:
        super().__init__(scope, cid)
        stack = cdk.Stack.of(self)
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"))
        execution_logs = stack.format_arn(service="logs", resource="log-group",
                                          resource_name="API-Gateway-Execution-Logs_*",
                                          arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            resources=[execution_logs, f"{execution_logs}:*", access_logs.log_group_arn]))
        self.role.add_to_policy(iam.PolicyStatement(actions=["logs:DescribeLogGroups"], resources=["*"]))
        self.account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=self.role.role_arn)
        self.account.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        api.deployment_stage.node.add_dependency(self.account)


class Review(Construct):
    """Signing key, review-request Lambda, and the review API (GET page / POST decision)."""

    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        code: LambdaCode,
        table: ddb.Table,
        sender: str,
        reviewers: dict[str, Any],
        review: dict[str, Any],
        counter_notice: dict[str, Any],
        sender_identity: ses.EmailIdentity,
    ) -> None:
        super().__init__(scope, cid)
        self.link_key = secrets.Secret(
            self,
            "LinkKey",
            description="HMAC key that signs review links and CSRF tokens",
            generate_secret_string=secrets.SecretStringGenerator(password_length=64, exclude_punctuation=True),
        )
        self.api_function = code.function(
            self,
            "Api",
            handler="takedown_handlers.review_api.handler",
            timeout=cdk.Duration.seconds(10),
            memory_size=256,
            env={"TABLE_NAME": table.table_name, "LINK_KEY_SECRET_ARN": self.link_key.secret_arn},
        )
        access_logs = log_group(self, "ApiAccessLogs")
        self.api = apigw.LambdaRestApi(
            self,
            "ReviewApi",
            handler=self.api_function,
            proxy=False,
            # Not CDK's CloudWatch role (its managed policy AmazonAPIGatewayPushToCloudWatchLogs is
            # logs:* actions on "*"): ApiGatewayLogging below makes one for log groups only.
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=REVIEW_STAGE, throttling_rate_limit=20, throttling_burst_limit=40,
                # One line per request: who, when, which route (the resource path, never the
                # query with the link's signature), status, latency. Errors of every method go
                # to the execution log; never request or response bodies (CSRF tokens, pages).
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=False),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
            ),
        )
        ApiGatewayLogging(self, "ApiGatewayLogging", api=self.api, access_logs=access_logs)
        review_res = self.api.root.add_resource("review").add_resource("{review_id}")
        review_res.add_method("GET")
        review_res.add_method("HEAD")
        decision_res = review_res.add_resource("decision")
        decision_res.add_method("POST")
        # Every other method API Gateway can route (ANY: PUT, DELETE, PATCH, OPTIONS, and GET/HEAD
        # on the decision) reaches the same function, which answers 405 with an Allow header and
        # its own page, instead of API Gateway's 403 "Missing Authentication Token".
        review_res.add_method("ANY")
        decision_res.add_method("ANY")
        # A reviewer's queue (signed like the review links): GET/HEAD; ANY for the 405 page.
        queue_res = self.api.root.add_resource("queue")
        queue_res.add_method("GET")
        queue_res.add_method("HEAD")
        queue_res.add_method("ANY")
        self.workflow_function = code.function(
            self,
            "Steps",
            handler="takedown_handlers.workflow.handler",
            timeout=cdk.Duration.seconds(REVIEW_STEPS_TIMEOUT),
            memory_size=REVIEW_STEPS_MEMORY,
            env={
                "TABLE_NAME": table.table_name,
                "LINK_KEY_SECRET_ARN": self.link_key.secret_arn,
                "REVIEW_BASE_URL": review_base_url(self.api, REVIEW_STAGE),
                "SENDER": sender,
                "LINK_TTL_SECONDS": str(review["link_ttl_seconds"]),
                "REVIEW_REMINDERS": str(review["reminders"]),
                "REVIEW_ESCALATIONS": str(review["escalations"]),
                "REVIEW_DIGEST_THRESHOLD": str(review.get("digest_threshold", 0)),
                # the restoration clock of a counter-notice, and who is told the decision's date
                "COUNTER_NOTICE": _compact(counter_notice),
            },
            settings={"REVIEWERS": _compact(reviewers)},
        )
        if review.get("digest_threshold"):
            events.Rule(
                self,
                "HourlyDigest",
                description="One email per reviewer listing pending cases when their queue is long",
                schedule=events.Schedule.rate(cdk.Duration.hours(1)),
                targets=[targets.LambdaFunction(
                    self.workflow_function, event=events.RuleTargetInput.from_object({"action": "send_digests"}))],
            )
        table.grant_read_write_data(self.workflow_function)
        # The table's ARN only: table.grant() would add its indexes too, which the API never reads.
        # And only the items it needs: reviews and cases (with their audit events), by partition
        # key (dynamodb:LeadingKeys); never an upload, a submission, a stay-down marker or a
        # notice slot's partition of another kind.
        self.api_function.add_to_role_policy(iam.PolicyStatement(
            actions=list(REVIEW_API_TABLE_ACTIONS), resources=[table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(REVIEW_API_PARTITIONS)}}))
        self.api_function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:Query"], resources=[f"{table.table_arn}/index/{REVIEW_API_QUEUE_INDEX}"]))
        self.api_function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:Query"], resources=[table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(REVIEW_API_COUNT_PARTITIONS)},
                        "StringEquals": {"dynamodb:Select": "COUNT"}}))
        for fn in (self.api_function, self.workflow_function):
            self.link_key.grant_read(fn)
        sender_identity.grant_send_email(self.workflow_function)


def grant_review_clips(*, review: "Review", evidence: s3.IBucket, landing: list[s3.IBucket],
                       references: s3.IBucket | None) -> None:
    """The review clips (takedown_core.clips): the steps function reads the upload from its
    landing bucket and, where the environment lets reviewers hear our recordings
    (``review.reference_audio`` in cdk.json), our recording from the reference bucket; it
    writes the clips under ``clips/`` of the evidence bucket, and the review API reads them
    there (its presigned GETs act with its role's permissions). Without ``references`` the
    steps function gets no read grant on our recordings and no REFERENCE_AUDIO_BUCKET."""
    steps, api = review.workflow_function, review.api_function
    for bucket in landing:
        grant_read_objects(bucket, steps)
    steps.add_to_role_policy(iam.PolicyStatement(actions=["s3:PutObject"],
                                                 resources=[evidence.arn_for_objects(f"{CLIPS_PREFIX}/*")]))
    api.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"],
                                               resources=[evidence.arn_for_objects(f"{CLIPS_PREFIX}/*")]))
    for fn in (steps, api):
        fn.add_environment("EVIDENCE_BUCKET", evidence.bucket_name)
    if references is not None:
        grant_read_objects(references, steps)
        steps.add_environment("REFERENCE_AUDIO_BUCKET", references.bucket_name)


class Workflow(Construct):
    """The "takedown case" state machine. Its definition is written here and only here."""

    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        steps: lambda_.IFunction,
        dispatch: lambda_.IFunction,
        review: dict[str, Any],
        notice: dict[str, Any],
        name: str,
    ) -> None:
        super().__init__(scope, cid)

        def step(name: str, action: str, **extra: Any) -> tasks.LambdaInvoke:
            return tasks.LambdaInvoke(
                self,
                name,
                lambda_function=steps,
                payload=sfn.TaskInput.from_object({"action": action, "case_id.$": "$.case_id", **extra}),
                payload_response_only=True,
                retry_on_service_exceptions=True,
            )

        record_failure: tasks.LambdaInvoke = tasks.LambdaInvoke(
            self,
            "Record failure",
            lambda_function=steps,
            payload=sfn.TaskInput.from_object(
                {"action": "record_failure", "case_id.$": "$.case_id", "error.$": "$.error"}
            ),
            payload_response_only=True,
            result_path=sfn.JsonPath.DISCARD,
        )
        # Recording the failure must not fail: a lost record leaves the case in a live state forever
        # (the reconciler is the last resort). Retries cover throttling and a table under load.
        record_failure.add_retry(errors=["States.ALL"], interval=cdk.Duration.seconds(2), max_attempts=6,
                                 backoff_rate=2.0)
        record_failure.next(sfn.Fail(self, "Case failed", error="CaseFailed", cause="see the case's audit trail"))

        request_review = tasks.LambdaInvoke(
            self,
            "Request review",
            lambda_function=steps,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object(
                {
                    "action": "request_review",
                    "case_id.$": "$.case_id",
                    "round.$": "$.round",
                    "task_token": sfn.JsonPath.task_token,
                }
            ),
            task_timeout=sfn.Timeout.duration(cdk.Duration.seconds(int(review["wait_seconds"]))),
            result_path="$.decision",
        )
        # SES throttling or a table under load is not a reason to fail a case: ask again, with a new token.
        request_review.add_retry(errors=TRANSIENT_ERRORS, interval=cdk.Duration.seconds(5), max_attempts=5,
                                 backoff_rate=2.0)
        review_timed_out = step("Review timed out", "review_timeout", **{"round.$": "$.round"})
        review_timed_out.add_retry(errors=["States.TaskFailed"], max_attempts=2)
        review_timed_out.add_catch(record_failure, result_path="$.error")
        request_review.add_catch(review_timed_out, errors=["States.Timeout"], result_path="$.timeout")
        request_review.add_catch(record_failure, result_path="$.error")

        approve_by_policy = tasks.LambdaInvoke(
            self,
            "Approve by policy",
            lambda_function=steps,
            payload=sfn.TaskInput.from_object({"action": "approve_by_policy", "case_id.$": "$.case_id"}),
            payload_response_only=True,
            retry_on_service_exceptions=True,
            result_path="$.policy",
        )
        approve_by_policy.add_catch(record_failure, result_path="$.error")

        dispatch_notice = tasks.LambdaInvoke(
            self,
            "Dispatch notice",
            lambda_function=dispatch,
            payload=sfn.TaskInput.from_object({"case_id.$": "$.case_id"}),
            payload_response_only=True,
            result_path="$.notice",
        )
        # Backoff with full jitter: a platform that was down for everyone is not hit by every
        # waiting case at the same second when it comes back.
        dispatch_notice.add_retry(
            errors=["NoticeChannelError", *TRANSIENT_ERRORS],
            interval=cdk.Duration.seconds(int(notice["retry_interval_seconds"])),
            max_attempts=int(notice["retry_attempts"]),
            backoff_rate=2.0,
            jitter_strategy=sfn.JitterType.FULL,
            max_delay=cdk.Duration.seconds(int(notice.get("max_retry_delay_seconds", 3600))),
        )
        dispatch_notice.add_catch(record_failure, result_path="$.error")
        # A rate limit or the platform's Retry-After: wait as long as it says, then dispatch again
        # (queued, never dropped; the notice slot is free while it waits).
        wait_for_platform = sfn.Wait(self, "Wait for the platform",
                                     time=sfn.WaitTime.seconds_path("$.notice.deferred_seconds"))
        wait_for_platform.next(dispatch_notice)
        notice_sent = sfn.Succeed(self, "Notice sent")
        dispatch_notice.next(
            sfn.Choice(self, "Notice outcome?")
            .when(sfn.Condition.string_equals("$.notice.status", "DEFERRED"), wait_for_platform)
            .otherwise(notice_sent)
        )

        decided = (
            sfn.Choice(self, "Decision?")
            .when(sfn.Condition.string_equals("$.decision.decision", "approve"), dispatch_notice)
            .otherwise(sfn.Succeed(self, "Rejected"))
        )
        request_review.next(decided)
        review_timed_out.next(
            sfn.Choice(self, "Expired?")
            .when(sfn.Condition.boolean_equals("$.expired", True), sfn.Succeed(self, "Review expired"))
            .otherwise(request_review)
        )
        # The policy's basis may no longer hold (the earlier takedown was disputed): a person decides.
        approve_by_policy.next(
            sfn.Choice(self, "Approved by policy?")
            .when(sfn.Condition.boolean_equals("$.policy.approved", True), dispatch_notice)
            .otherwise(request_review)
        )

        definition = (
            sfn.Choice(self, "Stay-down auto-approve?")
            .when(sfn.Condition.boolean_equals("$.auto_approve", True), approve_by_policy)
            .otherwise(request_review)
        )
        total_wait = int(review["wait_seconds"]) * (1 + int(review["reminders"]) + int(review["escalations"]))
        self.state_machine = sfn.StateMachine(
            self,
            "TakedownCase",
            state_machine_name=name,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=cdk.Duration.seconds(total_wait + 7 * 86400),
            tracing_enabled=True,
            logs=state_machine_logs(self, "TakedownCaseLogs"),
        )


# --- The index build (IndexBuild). Decoding and peak finding run at about 585x real time on one
# core of the development machine (bench/build_speed.py's corpus, 2.61 h of FLAC at 22.05 kHz:
# 16.1 s of process time in one process, no FFmpeg threads), so 50 tracks of 4 minutes take
# about 21 s and 50 tracks at the 100-minute cap (MAX_REFERENCE_SECONDS) about 510 s: inside
# the 900 s limit whatever a batch holds, with room for a slower vCPU and the S3 transfers.
BUILD_BATCH_TRACKS = 50            # listing items per fingerprint invocation (sidecars count too)
BUILD_BATCH_TIMEOUT = 900          # seconds: Lambda's maximum
BUILD_BATCH_MEMORY = 1769          # MB: one full vCPU; a 100-minute track is 265 MB of samples
BUILD_MAX_CONCURRENCY = 100        # batches at once: 10 % of an account's default 1,000 Lambda concurrency
# The reduce holds every track's entries (8 bytes each, about 66 per second of audio: 0.6 M for
# 2.48 h) with the shard being sorted and the self-match's tables, in one function: the most
# memory and /tmp Lambda gives, and its longest run.
BUILD_REDUCE_MEMORY = 10240        # MB: Lambda's maximum
BUILD_REDUCE_TIMEOUT = 900         # seconds: Lambda's maximum
BUILD_REDUCE_TMP = 10240           # MB of /tmp for the index written before it is published
ARTIFACT_PREFIX = "artifacts/peaks"   # the catalogue bucket's per-track peaks (catalog_build.artifact_key)
MAP_RESULTS_PREFIX = "map-results"  # the Distributed Map's ResultWriter output, in its own bucket
MAP_RESULTS_DAYS = 30              # a build's per-batch counts are kept this long (for looking into a build)


class IndexBuild(Construct):
    """Builds the catalogue index from the reference bucket with AWS's own fan-out.

    The "takedown catalogue build" state machine: a Distributed Map whose S3 item reader lists
    the reference bucket (ListObjectsV2) and hands batches of listing items to the fingerprint
    Lambda (decode, peaks, one artifact per track keyed by its ETag: an unchanged track is
    never fingerprinted again); its ResultWriter puts the batches' outputs in the catalogue
    bucket, so no list of results passes through the state (256 KB payload limit). Then the
    reduce Lambda gathers the artifacts, writes the index and publishes it as a new version,
    moving indexes/CURRENT as ``takedown catalog publish`` does.
    """

    def __init__(self, scope: Construct, cid: str, *, code: LambdaCode, catalogue: s3.Bucket, retain: bool,
                 name: str) -> None:
        super().__init__(scope, cid)
        # DistributedMap renders its resultWriterV2 only under this feature flag (else the
        # deprecated resultWriter); set here, before any child exists, for this construct alone
        self.node.set_context("@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2", True)
        self.references = _private_bucket(self, "References", retain=retain, versioned=True)
        # The map's ResultWriter gets its own bucket: CDK grants the writer s3:PutObject and
        # s3:GetObject on every key of the bucket it writes to, and the state machine must not
        # be able to write over index versions.
        self.map_results = _private_bucket(
            self, "MapResults", retain=retain,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(MAP_RESULTS_DAYS))])
        env = {"REFERENCE_BUCKET": self.references.bucket_name, "CATALOG_BUCKET": catalogue.bucket_name,
               "ARTIFACT_PREFIX": ARTIFACT_PREFIX}
        self.fingerprint_function = code.function(
            self, "BuildFingerprint", handler="takedown_handlers.catalog_fingerprint.handler",
            timeout=cdk.Duration.seconds(BUILD_BATCH_TIMEOUT), memory_size=BUILD_BATCH_MEMORY, env=env)
        self.reduce_function = code.function(
            self, "BuildReduce", handler="takedown_handlers.catalog_reduce.handler",
            timeout=cdk.Duration.seconds(BUILD_REDUCE_TIMEOUT), memory_size=BUILD_REDUCE_MEMORY,
            ephemeral_storage_size=cdk.Size.mebibytes(BUILD_REDUCE_TMP), env=env)
        # least privilege: the batches read references and read/write artifacts; the reduce reads
        # both and writes index versions (and CURRENT), nothing else in the catalogue bucket
        grant_read_objects(self.references, self.fingerprint_function)
        grant_read_objects(catalogue, self.fingerprint_function, prefix=f"{ARTIFACT_PREFIX}/")
        self.fingerprint_function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:PutObject"], resources=[catalogue.arn_for_objects(f"{ARTIFACT_PREFIX}/*")]))
        grant_read_objects(self.references, self.reduce_function)
        grant_read_objects(catalogue, self.reduce_function, prefix=f"{ARTIFACT_PREFIX}/")
        self.reduce_function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:GetObject", "s3:PutObject"], resources=[catalogue.arn_for_objects(f"{INDEX_PREFIX}/*")]))

        fingerprint = tasks.LambdaInvoke(
            self, "Fingerprint batch", lambda_function=self.fingerprint_function,
            payload_response_only=True, retry_on_service_exceptions=True)
        fingerprint.add_retry(errors=TRANSIENT_ERRORS + ["States.Timeout"], interval=cdk.Duration.seconds(5),
                              max_attempts=3, backoff_rate=2.0)
        fan_out = sfn.DistributedMap(
            self, "Fingerprint references",
            item_reader=sfn.S3ObjectsItemReader(bucket=self.references),
            item_batcher=sfn.ItemBatcher(max_items_per_batch=BUILD_BATCH_TRACKS),
            result_writer_v2=sfn.ResultWriterV2(bucket=self.map_results, prefix=MAP_RESULTS_PREFIX),
            max_concurrency=BUILD_MAX_CONCURRENCY,
            result_path="$.map",
        )
        fan_out.item_processor(fingerprint)
        reduce = tasks.LambdaInvoke(
            self, "Build and publish index", lambda_function=self.reduce_function,
            payload=sfn.TaskInput.from_object({"map.$": "$.map"}),
            payload_response_only=True, retry_on_service_exceptions=True, result_path="$.index")
        self.state_machine = sfn.StateMachine(
            self, "CatalogueBuild", state_machine_name=name,
            definition_body=sfn.DefinitionBody.from_chainable(fan_out.next(reduce)),
            timeout=cdk.Duration.hours(24), tracing_enabled=True, logs=state_machine_logs(self, "CatalogueBuildLogs"))


class Reconciler(Construct):
    """On a schedule, moves cases stuck in a non-terminal state past a deadline (takedown_core.reconcile):
    starts an execution that was never started, fails a case whose execution ended without it."""

    def __init__(self, scope: Construct, cid: str, *, code: LambdaCode, table: ddb.Table,
                 state_machine: sfn.StateMachine, state_machine_name: str) -> None:
        super().__init__(scope, cid)
        self.function = code.function(
            self,
            "Reconcile",
            handler="takedown_handlers.reconcile.handler",
            timeout=cdk.Duration.seconds(300),
            memory_size=256,
            env={"TABLE_NAME": table.table_name, "STATE_MACHINE_ARN": state_machine.state_machine_arn,
                 "STUCK_AFTER_SECONDS": str(STUCK_AFTER)},
        )
        # list cases by status (the by-status index), read one, write it with its audit event
        table.grant(self.function, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem")
        state_machine.grant_start_execution(self.function)
        # DescribeExecution of each case's execution (named after the case): not grant_read, which
        # adds ListActivities / DescribeActivity / DescribeStateMachine on "*" and execution history.
        self.function.add_to_role_policy(iam.PolicyStatement(
            actions=["states:DescribeExecution"],
            resources=[cdk.Stack.of(self).format_arn(service="states", resource="execution",
                                                     resource_name=f"{state_machine_name}:*",
                                                     arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)]))
        events.Rule(
            self,
            "Schedule",
            description="Find cases stuck in a non-terminal state and move them on",
            schedule=events.Schedule.rate(cdk.Duration.minutes(RECONCILE_EVERY)),
            targets=[targets.LambdaFunction(self.function)],
        )


class Compliance(Construct):
    """Hourly: is the content down some time after its notice? (takedown_core.compliance)"""

    def __init__(self, scope: Construct, cid: str, *, code: LambdaCode, table: ddb.Table, sender: str,
                 sender_identity: ses.EmailIdentity, settings: dict[str, Any], gone_markers: dict[str, Any]) -> None:
        super().__init__(scope, cid)
        self.function = code.function(
            self,
            "Check",
            handler="takedown_handlers.compliance.handler",
            timeout=cdk.Duration.seconds(600),
            memory_size=256,
            env={"TABLE_NAME": table.table_name, "SENDER": sender, "COMPLIANCE": _compact(settings)},
            settings={"GONE_MARKERS": _compact(gone_markers)},
        )
        # list cases by status, read each with its audit trail, write a removal or an escalation
        table.grant(self.function, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem")
        sender_identity.grant_send_email(self.function)
        events.Rule(
            self,
            "Schedule",
            description="Check that content is down some time after its notice; escalate what is not",
            schedule=events.Schedule.rate(cdk.Duration.hours(1)),
            targets=[targets.LambdaFunction(self.function)],
        )


class Monitoring(Construct):
    """Alarms that page ops: poison messages in the DLQ, failed cases, erroring functions.

    Every alarm fires on any occurrence (> 0): each one means an upload or a case needs a person.
    """

    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        dlq: sqs.IQueue,
        state_machine: sfn.StateMachine,
        functions: list[lambda_.Function],
        alarm_email: str | None,
        build_state_machine: sfn.StateMachine | None = None,
    ) -> None:
        super().__init__(scope, cid)
        self.topic = sns.Topic(self, "Alarms", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subs.EmailSubscription(alarm_email))
        self._action = cw_actions.SnsAction(self.topic)
        five_minutes = cdk.Duration.minutes(5)
        self.dlq_alarm = self._on_any(
            "IngestDLQNotEmpty",
            "Uploads that failed 5 times sit in the ingest DLQ: inspect and redrive",
            dlq.metric_approximate_number_of_messages_visible(period=cdk.Duration.minutes(1)),
        )
        self.failed_cases_alarm = self._on_any(
            "CasesFailed",
            "A takedown case execution failed: its audit trail has the cause",
            state_machine.metric_failed(period=five_minutes),
        )
        # Emitted by the fingerprint function (powertools Metrics, namespace Takedown, dimension
        # service=takedown) each time an upload must wait because the index cannot be used.
        self.index_alarm = self._on_any(
            "IndexUnavailable",
            "The catalogue index is missing, partial or of an unknown format: uploads are waiting (and will"
            " reach the DLQ); publish a good index, then `takedown dlq replay --all`",
            cw.Metric(namespace="Takedown", metric_name="IndexUnavailable", dimensions_map={"service": "takedown"},
                      statistic="Sum", period=five_minutes),
        )
        # Emitted by the notice function: a notice that is not sent and will not be retried.
        # (A channel that keeps failing ends the execution in "Case failed": CasesFailed above.)
        for status, why in (("NOTICE_INVALID", "a notice missed an element its law requires and was not sent: "
                                               "fix the complainant or platform settings, see the case's reason"),
                            ("NOTICE_REJECTED", "a platform refused a notice: the case has its reason")):
            self._on_any(f"Notices{status.title().replace('_', '')}", f"{status}: {why}",
                         cw.Metric(namespace="Takedown", metric_name=f"Notice_{status}",
                                   dimensions_map={"service": "takedown"}, statistic="Sum", period=five_minutes))
        self._on_any("CasesTimedOut", "Takedown case executions timed out: no failure state recorded them",
                     state_machine.metric_timed_out(period=five_minutes))
        self._on_any("CasesAborted", "Takedown case executions were aborted: no failure state recorded them",
                     state_machine.metric_aborted(period=five_minutes))
        self.function_alarms = [
            self._on_any(f"Errors-{fn.node.id}", f"{fn.node.path} is raising errors", fn.metric_errors(period=five_minutes))
            for fn in functions
        ]
        # A throttled invocation waits (SQS, Step Functions retry) but means the account's or the
        # function's concurrency is too low for the load: ops raise it before work backs up.
        self.throttle_alarms = [
            self._on_any(f"Throttles-{fn.node.id}", f"{fn.node.path} is being throttled: raise its concurrency",
                         fn.metric_throttles(period=five_minutes))
            for fn in functions
        ]
        # Emitted by the workflow function when a case's review ran out of rounds (REVIEW_EXPIRED):
        # nobody decided in time, no notice went out.
        self.review_expired_alarm = self._on_any(
            "ReviewsPastDeadline", "A review expired without a decision (REVIEW_EXPIRED): the case needs a reviewer",
            self._takedown_metric("ReviewExpired", five_minutes))
        if build_state_machine is not None:
            self._on_any("CatalogueBuildFailed", "A catalogue index build failed: CURRENT still names the last good index",
                         build_state_machine.metric_failed(period=five_minutes))
        self.dashboard = self._dashboard(dlq, state_machine, functions)

    @staticmethod
    def _takedown_metric(name: str, period: cdk.Duration, statistic: str = "Sum") -> cw.Metric:
        """A metric the functions emit with Powertools Metrics (namespace Takedown, service=takedown)."""
        return cw.Metric(namespace="Takedown", metric_name=name, dimensions_map={"service": "takedown"},
                         statistic=statistic, period=period)

    def _dashboard(self, dlq: sqs.IQueue, state_machine: sfn.StateMachine,
                   functions: list[lambda_.Function]) -> cw.Dashboard:
        """One page for ops: the flow (uploads, cases by kind, decisions, notices), how long
        decisions and notices take, and what is stuck or failing."""
        hour = cdk.Duration.hours(1)
        m = self._takedown_metric
        board = cw.Dashboard(self, "Dashboard", dashboard_name=f"takedown-{cdk.Stack.of(self).stack_name}"[:255])
        board.add_widgets(
            cw.GraphWidget(title="Uploads by outcome (per hour)", width=8, left=[
                m(f"Upload_{o}", hour) for o in ("case", "no_match", "quarantined", "licensed")]),
            cw.GraphWidget(title="Cases opened by kind (per hour)", width=8, left=[
                m(f"Case_{k}", hour) for k in ("copy", "partial", "suspected_ai_cover", "suspected_deepfake")] + [m("CaseRepeat", hour)]),
            cw.GraphWidget(title="Decisions and notices (per hour)", width=8, left=[
                m("Decision_approve", hour), m("Decision_reject", hour), m("Notice_NOTICE_SENT", hour),
                m("Notice_NOTICE_QUEUED", hour), m("Notice_NOTICE_INVALID", hour), m("Notice_NOTICE_REJECTED", hour)]),
        )
        board.add_widgets(
            cw.GraphWidget(title="Time to decision and to notice (seconds, p50 / p90)", width=12, left=[
                m("TimeToDecision", hour, "p50"), m("TimeToDecision", hour, "p90"),
                m("TimeToNotice", hour, "p50"), m("TimeToNotice", hour, "p90")]),
            cw.GraphWidget(title="Stuck or failing", width=12, left=[
                dlq.metric_approximate_number_of_messages_visible(period=cdk.Duration.minutes(5)),
                state_machine.metric_failed(period=hour), m("ReviewExpired", hour), m("IndexUnavailable", hour),
                m("IngestError", hour)]),
        )
        board.add_widgets(
            cw.GraphWidget(title="Function errors", width=8, left=[fn.metric_errors(period=hour) for fn in functions]),
            cw.GraphWidget(title="Function throttles", width=8, left=[fn.metric_throttles(period=hour) for fn in functions]),
            cw.GraphWidget(title="Function duration p90 (ms)", width=8,
                           left=[fn.metric_duration(period=hour, statistic="p90") for fn in functions]),
        )
        return board

    def _on_any(self, cid: str, description: str, metric: cw.IMetric) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            cid,
            alarm_description=description,
            metric=metric,
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        return alarm
