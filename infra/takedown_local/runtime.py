"""The embedded AWS: the synthesized CDK template's resources, created in moto, running.

`LocalStack` synthesizes the CDK app in-process, creates the template's tables, buckets,
queues, notifications, secret, roles, functions and the state machine (its real ASL) in
moto, runs every Lambda invocation in-process with the real handler, polls the ingest queue
the way Lambda's SQS event source mapping does, and serves the review API on loopback the
way API Gateway's proxy integration would. Nothing here keeps a second copy of the workflow:
everything comes from the template.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import secrets
import threading
import time
import zipfile
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("takedown.local")
ACCOUNT = "123456789012"
SQS_POLL_IDLE = 0.05        # seconds between empty receives
FAILED_RETRY_DELAY = 1      # seconds before a failed message is visible again (AWS: the visibility timeout)
LOCAL_STAGE = "v1"
_QUERY = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")  # a path's query string, in an access-log line


class TemplateError(RuntimeError):
    """The template holds something the local runtime cannot create."""


def _dummy_zip() -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("README.txt", "code runs in-process from functions/ (see takedown_local.lambda_patch)")
    return buf.getvalue()


@dataclass
class Resource:
    logical_id: str
    type: str
    props: dict[str, Any]
    ref: Any = None
    attrs: dict[str, Any] = field(default_factory=dict)


class Resolver:
    """Resolves CloudFormation intrinsics against what was created in moto."""

    def __init__(self, region: str, resources: dict[str, Resource]) -> None:
        self.region, self.resources = region, resources
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "Takedown-local",
            "AWS::NoValue": None,
        }

    def __call__(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self(x) for x in v]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, arg), = v.items()
            if k == "Ref":
                if arg in self.pseudo:
                    return self.pseudo[arg]
                r = self.resources.get(arg)
                if r is None or r.ref is None:
                    raise TemplateError(f"Ref to {arg}, which was not created (yet)")
                return r.ref
            if k == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                r = self.resources.get(name)
                if r is None or attr not in r.attrs:
                    raise TemplateError(f"GetAtt {name}.{attr} is not available locally")
                return r.attrs[attr]
            if k == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self(p)) for p in self(parts))
            if k == "Fn::Select":
                i, lst = arg
                return self(lst)[int(self(i))]
            if k == "Fn::Split":
                sep, s = arg
                return str(self(s)).split(sep)
            if k == "Fn::Sub":
                template, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))

                def sub(m: re.Match) -> str:
                    name = m.group(1)
                    if name in variables:
                        return str(variables[name])
                    if "." in name:
                        return str(self({"Fn::GetAtt": name.split(".", 1)}))
                    return str(self({"Ref": name}))

                return re.sub(r"\$\{([^}!]+)\}", sub, template)
        return {k: self(x) for k, x in v.items()}


@dataclass
class EventSourceMapping:
    queue_url: str
    function_name: str
    batch_size: int
    report_failures: bool


class LocalStack:
    """One environment's stack on embedded AWS. Use as a context manager."""

    def __init__(
        self,
        env: str = "dev",
        *,
        overrides: dict[str, Any] | None = None,
        review_port: int = 0,
        region: str | None = None,
    ) -> None:
        self.env_name = env
        self.overrides = overrides or {}
        self.review_port = review_port
        self._stack = ExitStack()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.resources: dict[str, Resource] = {}
        self.region = region or "eu-west-1"
        self.functions_env: dict[str, dict[str, str]] = {}
        self.mappings: list[EventSourceMapping] = []
        self.schedules: list[tuple[int, str, str]] = []
        self.partner_buckets: dict[str, str] = {}
        self.review_base_url = ""
        self.invocation_errors: list[dict[str, Any]] = []
        self._paused = threading.Event()
        self._links: list[dict[str, str]] = []
        self._links_read = 0
        self._links_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "LocalStack":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        from takedown_infra.config import load
        from takedown_infra.synth import synth_template

        from . import logsafe

        logsafe.install()  # links, tokens and the key never reach a log, at any level (logsafe.py)
        config = load(self.env_name, overrides=self.overrides)
        self.config = config
        self.region = config.region
        for k, v in {
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Takedown",
            "POWERTOOLS_DEV": "false",
            "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
        }.items():
            os.environ[k] = v
        os.environ.pop("AWS_PROFILE", None)
        self.template = synth_template(self.env_name, overrides=self.overrides)

        from moto import mock_aws

        from .lambda_patch import in_process_lambdas
        from .moto_safety import cheap_transactions, linear_sqs_receive, serialised_dynamodb

        self._stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        self._stack.enter_context(in_process_lambdas())
        self._stack.enter_context(serialised_dynamodb())
        self._stack.enter_context(cheap_transactions())
        self._stack.enter_context(linear_sqs_receive())
        import boto3

        self.session = boto3.session.Session(region_name=self.region)
        self._reset_handler_caches()
        self._start_review_server()
        self._create_resources()
        from .lambda_patch import apply_environment

        apply_environment(self.functions_env)
        for m in self.mappings:
            t = threading.Thread(target=self._poll_queue, args=(m,), name=f"esm-{m.function_name}", daemon=True)
            t.start()
            self._threads.append(t)
        if self.schedules:
            t = threading.Thread(target=self._run_schedules, name="schedules", daemon=True)
            t.start()
            self._threads.append(t)

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        server = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
        self._stack.close()
        self._reset_handler_caches()
        from . import logsafe

        logsafe.uninstall()

    @staticmethod
    def _reset_handler_caches() -> None:
        try:
            from takedown_handlers import _env

            _env.reset()
        except ImportError:  # pragma: no cover
            pass

    def client(self, service: str) -> Any:
        return self.session.client(service)

    # ------------------------------------------------------------------ resources
    def _create_resources(self) -> None:
        resources = {lid: Resource(lid, r["Type"], r.get("Properties", {})) for lid, r in self.template["Resources"].items()}
        self.resources = resources
        resolve = Resolver(self.region, resources)
        order = [
            "AWS::IAM::Role",
            "AWS::SecretsManager::Secret",
            "AWS::DynamoDB::Table",
            "AWS::SQS::Queue",
            "AWS::S3::Bucket",
            "AWS::SNS::Topic",
            "AWS::SES::EmailIdentity",
            "AWS::ApiGateway::RestApi",
            "AWS::ApiGateway::Stage",
            "AWS::Lambda::LayerVersion",
            "AWS::Lambda::Function",
            "AWS::StepFunctions::StateMachine",
            "Custom::S3BucketNotifications",
            "AWS::Lambda::EventSourceMapping",
            "AWS::CloudWatch::Alarm",
            "AWS::Events::Rule",
        ]
        self._deferred_env: list[tuple[str, dict[str, Any]]] = []
        for rtype in order:
            for r in resources.values():
                if r.type == rtype:
                    getattr(self, "_create_" + rtype.split("::", 1)[1].replace("::", "_"))(r, resolve)
        lam = self.client("lambda")
        for name, later in self._deferred_env:
            variables = {**self.functions_env[name], **{k: str(resolve(v)) for k, v in later.items()}}
            lam.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
            self.functions_env[name] = variables

    def _name(self, r: Resource, limit: int = 63) -> str:
        base = re.sub(r"[^a-z0-9-]", "", r.logical_id.lower())
        return f"td-{self.env_name}-{base}"[: limit - 7] + "-" + secrets.token_hex(3)

    def _create_IAM_Role(self, r: Resource, resolve: Resolver) -> None:
        iam = self.client("iam")
        name = self._name(r, 64)
        doc = resolve(r.props.get("AssumeRolePolicyDocument", {}))
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]
        r.ref, r.attrs = name, {"Arn": arn}

    def _create_SecretsManager_Secret(self, r: Resource, resolve: Resolver) -> None:
        gen = r.props.get("GenerateSecretString", {})
        length = int(gen.get("PasswordLength", 32))
        value = secrets.token_urlsafe(length)[:length]
        from . import logsafe

        logsafe.protect(value)  # the link key: whoever reads it forges review decisions
        arn = self.client("secretsmanager").create_secret(Name=self._name(r), SecretString=value)["ARN"]
        r.ref, r.attrs = arn, {"Id": arn}

    def _create_DynamoDB_Table(self, r: Resource, resolve: Resolver) -> None:
        p = resolve(r.props)
        name = self._name(r, 255)
        kw: dict[str, Any] = {
            "TableName": name,
            "KeySchema": p["KeySchema"],
            "AttributeDefinitions": p["AttributeDefinitions"],
            "BillingMode": p.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if p.get("GlobalSecondaryIndexes"):
            kw["GlobalSecondaryIndexes"] = p["GlobalSecondaryIndexes"]
        ddb = self.client("dynamodb")
        desc = ddb.create_table(**kw)["TableDescription"]
        ttl = p.get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        r.ref, r.attrs = name, {"Arn": desc["TableArn"]}

    def _create_SQS_Queue(self, r: Resource, resolve: Resolver) -> None:
        sqs = self.client("sqs")
        name = self._name(r, 80)
        attrs: dict[str, str] = {}
        p = r.props
        if "VisibilityTimeout" in p:
            attrs["VisibilityTimeout"] = str(p["VisibilityTimeout"])
        if "MessageRetentionPeriod" in p:
            attrs["MessageRetentionPeriod"] = str(p["MessageRetentionPeriod"])
        if "RedrivePolicy" in p:
            rp = resolve(p["RedrivePolicy"])
            attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": rp["deadLetterTargetArn"],
                                                 "maxReceiveCount": str(rp["maxReceiveCount"])})
        url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        r.ref, r.attrs = url, {"Arn": arn, "QueueName": name, "QueueUrl": url}

    def _create_S3_Bucket(self, r: Resource, resolve: Resolver) -> None:
        s3 = self.client("s3")
        name = self._name(r)
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        if r.props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        tags = {t["Key"]: t["Value"] for t in r.props.get("Tags", [])}
        if "takedown:partner" in tags:
            self.partner_buckets[tags["takedown:partner"]] = name
        r.ref, r.attrs = name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}

    def _create_SNS_Topic(self, r: Resource, resolve: Resolver) -> None:
        arn = self.client("sns").create_topic(Name=self._name(r, 256))["TopicArn"]
        r.ref, r.attrs = arn, {"TopicArn": arn}

    def _create_SES_EmailIdentity(self, r: Resource, resolve: Resolver) -> None:
        identity = resolve(r.props["EmailIdentity"])
        self.client("ses").verify_email_identity(EmailAddress=identity)
        r.ref = identity

    def _create_ApiGateway_RestApi(self, r: Resource, resolve: Resolver) -> None:
        # API Gateway itself is served by the loopback server below; the id only feeds URLs.
        r.ref, r.attrs = "local", {"RootResourceId": "root"}

    def _create_ApiGateway_Stage(self, r: Resource, resolve: Resolver) -> None:
        r.ref = r.props.get("StageName", LOCAL_STAGE)

    def _create_Lambda_LayerVersion(self, r: Resource, resolve: Resolver) -> None:
        # Dependencies come from the virtual environment (same pins as the layer).
        r.ref = f"arn:aws:lambda:{self.region}:{ACCOUNT}:layer:{r.logical_id}:1"

    def _create_Lambda_Function(self, r: Resource, resolve: Resolver) -> None:
        p = r.props
        handler = p["Handler"]
        if not handler.startswith("takedown_handlers."):
            return  # CDK's own helper functions (bucket notifications): their job is done below
        name = self._name(r, 64)
        variables, later = {}, {}
        for k, v in p.get("Environment", {}).get("Variables", {}).items():
            try:
                variables[k] = str(resolve(v))
            except TemplateError:  # refers to something created after functions (the state machine)
                later[k] = v
        if "REVIEW_BASE_URL" in variables:
            variables["REVIEW_BASE_URL"] = self.review_base_url
        if later:
            self._deferred_env.append((name, later))
        fn = self.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=resolve(p["Role"]),
            Handler=handler,
            Code={"ZipFile": _dummy_zip()},
            Timeout=int(p.get("Timeout", 3)),
            MemorySize=int(p.get("MemorySize", 128)),
            Environment={"Variables": variables},
        )
        self.functions_env[name] = variables
        r.ref, r.attrs = name, {"Arn": fn["FunctionArn"]}

    def _create_StepFunctions_StateMachine(self, r: Resource, resolve: Resolver) -> None:
        p = r.props
        definition = resolve(p["DefinitionString"])
        name = p.get("StateMachineName") or self._name(r, 80)
        arn = self.client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn=resolve(p["RoleArn"])
        )["stateMachineArn"]
        self.definition = json.loads(definition)
        r.ref, r.attrs = arn, {"Arn": arn, "Name": name}

    def _create_S3BucketNotifications(self, r: Resource, resolve: Resolver) -> None:
        p = resolve({k: v for k, v in r.props.items() if k in ("BucketName", "NotificationConfiguration")})
        cfg = p["NotificationConfiguration"]
        self.client("s3").put_bucket_notification_configuration(
            Bucket=p["BucketName"],
            NotificationConfiguration={k: v for k, v in cfg.items() if k in (
                "QueueConfigurations", "TopicConfigurations", "LambdaFunctionConfigurations")},
        )

    def _create_Lambda_EventSourceMapping(self, r: Resource, resolve: Resolver) -> None:
        p = resolve(r.props)
        arn = p["EventSourceArn"]
        queue = next(x for x in self.resources.values() if x.type == "AWS::SQS::Queue" and x.attrs.get("Arn") == arn)
        self.mappings.append(EventSourceMapping(
            queue_url=queue.ref,
            function_name=p["FunctionName"],
            batch_size=int(p.get("BatchSize", 10)),
            report_failures="ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
        ))

    def _create_CloudWatch_Alarm(self, r: Resource, resolve: Resolver) -> None:
        p = resolve(r.props)
        kw = {k: p[k] for k in ("MetricName", "Namespace", "Statistic", "Period", "EvaluationPeriods",
                                 "Threshold", "ComparisonOperator", "AlarmDescription", "AlarmActions",
                                 "TreatMissingData") if k in p}
        if "Dimensions" in p:
            kw["Dimensions"] = p["Dimensions"]
        if "MetricName" not in kw:
            return
        self.client("cloudwatch").put_metric_alarm(AlarmName=self._name(r, 255), **kw)

    def _create_Events_Rule(self, r: Resource, resolve: Resolver) -> None:
        """Scheduled rules (rate(...)) run on a thread, invoking their Lambda targets."""
        p = r.props
        m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", p.get("ScheduleExpression", ""))
        if not m or p.get("State", "ENABLED") != "ENABLED":
            return
        period = int(m.group(1)) * {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")]
        for target in p.get("Targets", []):
            arn = resolve(target["Arn"])
            fn = next((x.ref for x in self.resources.values()
                       if x.type == "AWS::Lambda::Function" and x.attrs.get("Arn") == arn), None)
            if fn:
                self.schedules.append((period, fn, target.get("Input", "{}")))

    @contextmanager
    def ingest_paused(self) -> Iterator[None]:
        """Hold the queue pollers (like disabling the event source mapping): messages pile up in
        the queue and are received in full batches when the block ends."""
        self._paused.set()
        try:
            yield
        finally:
            self._paused.clear()

    def run_schedules_now(self) -> None:
        """Fire every scheduled rule once (time passing, for local runs and tests)."""
        lam = self.client("lambda")
        for _, fn, payload in self.schedules:
            lam.invoke(FunctionName=fn, Payload=payload.encode())

    def _run_schedules(self) -> None:
        lam = self.client("lambda")
        due = {i: time.monotonic() + period for i, (period, _, _) in enumerate(self.schedules)}
        while not self._stop.wait(1.0):
            for i, (period, fn, payload) in enumerate(self.schedules):
                if time.monotonic() >= due[i]:
                    due[i] += period
                    lam.invoke(FunctionName=fn, Payload=payload.encode())

    # ------------------------------------------------------------------ SQS -> Lambda
    def _poll_queue(self, m: EventSourceMapping) -> None:
        """What Lambda's SQS event source mapping does: batches, partial failures, redelivery."""
        sqs, lam = self.client("sqs"), self.client("lambda")
        arn = sqs.get_queue_attributes(QueueUrl=m.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        while not self._stop.is_set():
            if self._paused.is_set():  # ingest_paused(): messages wait in the queue, as with a disabled mapping
                self._stop.wait(SQS_POLL_IDLE)
                continue
            try:
                got = sqs.receive_message(QueueUrl=m.queue_url, MaxNumberOfMessages=min(m.batch_size, 10),
                                          AttributeNames=["All"], MessageAttributeNames=["All"])
            except Exception:  # noqa: BLE001 - the mock is shutting down
                if self._stop.is_set():
                    return
                raise
            msgs = got.get("Messages", [])
            if not msgs:
                self._stop.wait(SQS_POLL_IDLE)
                continue
            event = {"Records": [{
                "messageId": x["MessageId"], "receiptHandle": x["ReceiptHandle"], "body": x["Body"],
                "attributes": x.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": x.get("MD5OfBody", ""),
                "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": self.region,
            } for x in msgs]}
            resp = lam.invoke(FunctionName=m.function_name, Payload=json.dumps(event).encode())
            payload = json.loads(resp["Payload"].read() or b"null")
            if resp.get("FunctionError"):
                failed = {x["MessageId"] for x in msgs}
                self.invocation_errors.append({"function": m.function_name, "error": payload})
            elif m.report_failures and isinstance(payload, dict):
                failed = {f["itemIdentifier"] for f in payload.get("batchItemFailures", [])}
            else:
                failed = set()
            for x in msgs:
                if x["MessageId"] in failed:
                    sqs.change_message_visibility(QueueUrl=m.queue_url, ReceiptHandle=x["ReceiptHandle"],
                                                  VisibilityTimeout=FAILED_RETRY_DELAY)
                else:
                    sqs.delete_message(QueueUrl=m.queue_url, ReceiptHandle=x["ReceiptHandle"])

    # ------------------------------------------------------------------ API Gateway on loopback
    def _start_review_server(self) -> None:
        stack = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "takedown-local-apigw"

            def log_message(self, fmt: str, *args: Any) -> None:
                # The request line carries the signed link's query (exp, sig): a bearer
                # credential. Log the path only.
                log.debug("review api: %s", _QUERY.sub(r"\1?[query not logged]", fmt % args))

            def _proxy(self, method: str) -> None:
                parts = urlsplit(self.path)
                path = parts.path
                prefix = f"/{LOCAL_STAGE}"
                if not path.startswith(prefix + "/"):
                    self.send_error(403, "Missing Authentication Token")
                    return
                path = path[len(prefix):]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else None
                status, headers, out = stack.call_review_api(method, path, dict(parse_qsl(parts.query)),
                                                             dict(self.headers.items()), body,
                                                             self.client_address[0])
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                data = out.encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._proxy("GET")

            def do_HEAD(self) -> None:  # noqa: N802
                self._proxy("HEAD")

            def do_POST(self) -> None:  # noqa: N802
                self._proxy("POST")

            # The API's ANY methods: the function answers them (405, Allow, its own page).
            def do_PUT(self) -> None:  # noqa: N802
                self._proxy("PUT")

            def do_DELETE(self) -> None:  # noqa: N802
                self._proxy("DELETE")

            def do_PATCH(self) -> None:  # noqa: N802
                self._proxy("PATCH")

            def do_OPTIONS(self) -> None:  # noqa: N802
                self._proxy("OPTIONS")

            def do_TRACE(self) -> None:  # noqa: N802
                # API Gateway cannot route TRACE (a method is GET, POST, PUT, DELETE, PATCH, HEAD,
                # OPTIONS or ANY of those seven) and the edge-optimized endpoint's CloudFront
                # forwards only those seven: in AWS a TRACE never reaches the function, it is
                # refused in front of it. Here too: refused without invoking the Lambda, and
                # never echoed (an echoed TRACE is how cross-site tracing reads headers).
                path = urlsplit(self.path).path
                allow = "POST" if path.rstrip("/").endswith("/decision") else "GET, HEAD"
                body = b"Method Not Allowed\n"
                self.send_response(405)
                self.send_header("Allow", allow)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.review_port), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.review_base_url = f"http://{host}:{port}/{LOCAL_STAGE}"
        t = threading.Thread(target=self._server.serve_forever, name="review-api", daemon=True)
        t.start()

    def call_review_api(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                        body: str | None, source_ip: str = "127.0.0.1") -> tuple[int, dict[str, str], str]:
        """API Gateway REST proxy integration: request -> event -> Lambda -> response."""
        segs = path.strip("/").split("/")
        resource, params = path, {}
        if len(segs) >= 2 and segs[0] == "review":
            params = {"review_id": segs[1]}
            resource = "/review/{review_id}" + ("/decision" if segs[2:] == ["decision"] else "")
        event = {
            "resource": resource, "path": path, "httpMethod": method, "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
            "pathParameters": params or None, "stageVariables": None, "body": body, "isBase64Encoded": False,
            "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": LOCAL_STAGE,
                               "requestId": secrets.token_hex(8), "path": f"/{LOCAL_STAGE}{path}",
                               "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")}},
        }
        fn = self.function_name("takedown_handlers.review_api.handler")
        resp = self.client("lambda").invoke(FunctionName=fn, Payload=json.dumps(event).encode())
        payload = json.loads(resp["Payload"].read() or b"null")
        if resp.get("FunctionError") or not isinstance(payload, dict):
            return 502, {"Content-Type": "text/plain"}, "Internal server error"
        hdrs = {k: str(v) for k, v in (payload.get("headers") or {}).items()}
        for k, vs in (payload.get("multiValueHeaders") or {}).items():
            hdrs[k] = ", ".join(map(str, vs))
        return int(payload.get("statusCode", 200)), hdrs, payload.get("body") or ""

    def serve_aws(self, port: int = 0) -> str:
        """Expose this process's embedded AWS on loopback (for `takedown cases` from another shell).

        Unauthenticated: any local process can then read the link-signing key through it. Only
        `takedown local up --expose-aws` calls this."""
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        self._stack.callback(server.stop)
        host, real_port = server.get_host_and_port()
        return f"http://{host}:{real_port}"

    # ------------------------------------------------------------------ handy lookups
    def function_name(self, handler: str) -> str:
        for r in self.resources.values():
            if r.type == "AWS::Lambda::Function" and r.props.get("Handler") == handler and r.ref:
                return r.ref
        raise KeyError(handler)

    def _one(self, rtype: str, contains: str) -> Resource:
        found = [r for r in self.resources.values() if r.type == rtype and contains in r.logical_id]
        if len(found) != 1:
            raise KeyError(f"{rtype} matching {contains}: {[r.logical_id for r in found]}")
        return found[0]

    @property
    def table_name(self) -> str:
        return self._one("AWS::DynamoDB::Table", "CasesTable").ref

    @property
    def catalog_bucket(self) -> str:
        return self._one("AWS::S3::Bucket", "CatalogueIndexBucket").ref

    @property
    def quarantine_bucket(self) -> str:
        return self._one("AWS::S3::Bucket", "Quarantine").ref

    @property
    def ingest_queue_url(self) -> str:
        return self._one("AWS::SQS::Queue", "IngestQueue").ref

    @property
    def dlq_url(self) -> str:
        return self._one("AWS::SQS::Queue", "IngestDLQ").ref

    @property
    def state_machine_arn(self) -> str:
        return self._one("AWS::StepFunctions::StateMachine", "TakedownCase").ref

    def repository(self):
        from takedown_adapters.dynamo import DynamoCaseRepository

        return DynamoCaseRepository(self.table_name, self.client("dynamodb"))

    # ------------------------------------------------------------------ mail
    def sent_mail(self) -> list[dict[str, Any]]:
        from moto.ses.models import ses_backends

        backend = ses_backends[ACCOUNT][self.region]
        return [{"id": m.id, "from": m.source, "to": m.destinations.get("ToAddresses", []),
                 "subject": m.subject, "body": m.body} for m in list(backend.sent_messages)]

    def review_links(self) -> list[dict[str, str]]:
        """Review links found in the captured mail, newest last (each mail is read once)."""
        from moto.ses.models import ses_backends

        pattern = re.compile(re.escape(self.review_base_url) + r"/review/[^\s\"'<>]+")
        with self._links_lock:
            sent = list(ses_backends[ACCOUNT][self.region].sent_messages)
            for m in sent[self._links_read:]:
                for url in pattern.findall(m.body):
                    self._links.append({"to": ", ".join(m.destinations.get("ToAddresses", [])), "subject": m.subject,
                                        "url": html.unescape(url)})
            self._links_read = len(sent)
            return list(self._links)
