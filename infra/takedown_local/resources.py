"""Template -> moto: the synthesized CDK template's resources, created in moto.

`TemplateResources` walks the template's resources in dependency order and creates each one
in moto (tables, buckets, queues, notifications, the secret, roles, functions, the state
machine with its real ASL, alarms), resolving CloudFormation intrinsics (`Resolver`) against
what was already created. What AWS would *run* rather than store is handed on as plain data:
the SQS event source mappings (for `poller.py`) and the scheduled rules (for `scheduler.py`).

`create_table` is the one way a table from the template is made in moto: the local stack and
the moto tests (tests/moto/conftest.py) both use it, so a test table is the template's table.
"""

from __future__ import annotations

import json
import re
import secrets
import zipfile
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, Callable

from .apigw import LOCAL_STAGE
from .poller import EventSourceMapping
from .scheduler import Schedule, rate_seconds

ACCOUNT = "123456789012"

# Resource types in the order they are created: each only refers to types above it (the
# functions' references to the state machine are filled in after it exists).
CREATION_ORDER = (
    "AWS::IAM::Role",
    "AWS::SecretsManager::Secret",
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
    "AWS::SNS::Topic",
    "AWS::SES::EmailIdentity",
    "AWS::SSM::Parameter",
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Stage",
    "AWS::Lambda::LayerVersion",
    "AWS::Lambda::Function",
    "AWS::StepFunctions::StateMachine",
    "Custom::S3BucketNotifications",
    "AWS::Lambda::EventSourceMapping",
    "AWS::CloudWatch::Alarm",
    "AWS::Events::Rule",
)


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


def template_resources(template: dict[str, Any]) -> dict[str, Resource]:
    """The template's resources by logical id, none created yet."""
    return {lid: Resource(lid, r["Type"], r.get("Properties", {})) for lid, r in template["Resources"].items()}


def one_of(resources: dict[str, Resource], rtype: str, contains: str) -> Resource:
    """The one resource of `rtype` whose logical id contains `contains` (KeyError otherwise)."""
    found = [r for r in resources.values() if r.type == rtype and contains in r.logical_id]
    if len(found) != 1:
        raise KeyError(f"{rtype} matching {contains}: {[r.logical_id for r in found]}")
    return found[0]


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


def create_table(ddb: Any, name: str, props: dict[str, Any]) -> dict[str, Any]:
    """Create one AWS::DynamoDB::Table from its (resolved) template properties; its description."""
    kw: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kw["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    desc = ddb.create_table(**kw)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return desc


class TemplateResources:
    """Creates a template's resources in moto and keeps what was made.

    After `create_all()`: `resources` (each with its ref and attributes), `functions_env` (each
    project function's environment), `mappings` (SQS event source mappings to poll),
    `schedules` (scheduled rules to fire), `partner_buckets` (partner id -> landing bucket) and
    `definition` (the state machine's ASL).
    """

    def __init__(
        self,
        template: dict[str, Any],
        *,
        env_name: str,
        region: str,
        client: Callable[[str], Any],
        review_base_url: str,
    ) -> None:
        self.template = template
        self.env_name = env_name
        self.region = region
        self.client = client
        self.review_base_url = review_base_url
        self.resources: dict[str, Resource] = template_resources(template)
        self.functions_env: dict[str, dict[str, str]] = {}
        self.mappings: list[EventSourceMapping] = []
        self.schedules: list[Schedule] = []
        self.partner_buckets: dict[str, str] = {}
        self.definition: dict[str, Any] | None = None  # the takedown case machine's ASL
        self.definitions: dict[str, dict[str, Any]] = {}  # every state machine's ASL, by logical id
        self._deferred_env: list[tuple[str, dict[str, Any]]] = []

    def create_all(self) -> None:
        resolve = Resolver(self.region, self.resources)
        for rtype in CREATION_ORDER:
            for r in self.resources.values():
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
        name = self._name(r, 255)
        desc = create_table(self.client("dynamodb"), name, resolve(r.props))
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

    def _create_SSM_Parameter(self, r: Resource, resolve: Resolver) -> None:
        p = resolve(r.props)
        self.client("ssm").put_parameter(Name=p["Name"], Value=p["Value"], Type=p.get("Type", "String"),
                                         Tier=p.get("Tier", "Standard"), Overwrite=True)
        r.ref, r.attrs = p["Name"], {"Type": p.get("Type", "String"), "Value": p["Value"]}

    def _create_ApiGateway_RestApi(self, r: Resource, resolve: Resolver) -> None:
        # API Gateway itself is served by the loopback front (http_front.py); the id only feeds URLs.
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
            Runtime="python3.14",
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
        if '"ItemBatcher"' in definition:  # moto parses no ItemBatcher: batches of one (distributed_map.py)
            from .distributed_map import for_moto

            definition = json.dumps(for_moto(json.loads(definition)))
        name = p.get("StateMachineName") or self._name(r, 80)
        arn = self.client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn=resolve(p["RoleArn"])
        )["stateMachineArn"]
        self.definitions[r.logical_id] = json.loads(definition)
        if self.definition is None or "TakedownCase" in r.logical_id:
            self.definition = self.definitions[r.logical_id]
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
        """Recorded for the poller (poller.py), which does what Lambda's mapping does."""
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
        """Scheduled rules (rate(...)) with Lambda targets, recorded for the scheduler (scheduler.py)."""
        p = r.props
        period = rate_seconds(p.get("ScheduleExpression", ""))
        if period is None or p.get("State", "ENABLED") != "ENABLED":
            return
        for target in p.get("Targets", []):
            arn = resolve(target["Arn"])
            fn = next((x.ref for x in self.resources.values()
                       if x.type == "AWS::Lambda::Function" and x.attrs.get("Arn") == arn), None)
            if fn:
                self.schedules.append(Schedule(period, fn, target.get("Input", "{}")))
