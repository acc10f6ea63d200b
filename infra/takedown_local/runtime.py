"""The embedded AWS: the synthesized CDK template's resources, created in moto, running.

`LocalStack` is the facade over the parts, each readable alone:

- resources.py   the template -> moto: every resource created, intrinsics resolved
- poller.py      Lambda's SQS event source mapping (batches, partial failures, redelivery)
- scheduler.py   EventBridge scheduled rules (rate(...)) invoking their Lambda targets
- apigw.py       API Gateway's REST proxy integration: request -> event, result -> response
- http_front.py  the review API's stage URL, served on loopback
- media_front.py the evidence bucket's presigned clip links, served on loopback (S3's checks)

It synthesizes the CDK app in-process, runs every Lambda invocation in-process with the real
handler (lambda_patch.py), and keeps no second copy of the workflow: everything comes from the
template.
"""

from __future__ import annotations

import html
import json
import os
import re
import threading
from contextlib import ExitStack, contextmanager
from typing import Any, Iterator

from .apigw import LOCAL_STAGE, Pairs, http_response, proxy_event
from .poller import EventSourceMapping, QueuePoller
from .resources import ACCOUNT, Resolver, Resource, TemplateError, TemplateResources, one_of
from .scheduler import Schedule, Scheduler

__all__ = ["ACCOUNT", "LOCAL_STAGE", "EventSourceMapping", "LocalStack", "Resolver", "Resource", "Schedule",
           "TemplateError"]


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
        self.schedules: list[Schedule] = []
        self.partner_buckets: dict[str, str] = {}
        self.review_base_url = ""
        self.invocation_errors: list[dict[str, Any]] = []
        self._paused = threading.Event()
        self._front = None
        self._media = None
        self.media_origin = ""
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
        config = self._start_platform_api(config, load)
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
        from .moto_safety import cheap_transactions, keep_mail_text, linear_sqs_receive, serialised_dynamodb

        self._stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        self._stack.enter_context(in_process_lambdas())
        self._stack.enter_context(serialised_dynamodb())
        self._stack.enter_context(cheap_transactions())
        self._stack.enter_context(linear_sqs_receive())
        self._stack.enter_context(keep_mail_text())
        import boto3

        self.session = boto3.session.Session(region_name=self.region)
        for name in config.api_secrets:  # what ops put in Secrets Manager before a deploy
            self.client("secretsmanager").create_secret(Name=name, SecretString=self.platform_api.secret.decode())
        self._reset_handler_caches()
        self._start_review_front()  # first: the functions' REVIEW_BASE_URL is its address
        self._start_media_front()
        self._create_resources()
        from .lambda_patch import apply_environment

        apply_environment(self.functions_env)
        for m in self.mappings:
            poller = QueuePoller(m, client=self.client, region=self.region, stop=self._stop, paused=self._paused,
                                 errors=self.invocation_errors)
            self._start_thread(poller.run, f"esm-{m.function_name}")
        if self.schedules:
            self._start_thread(self._scheduler().run, "schedules")

    def _start_platform_api(self, config: Any, load: Any) -> Any:
        """The platforms whose notices go to an HTTPS API get one on loopback (platform_api.py),
        standing in for the platform as moto stands in for AWS: their routes point at it and
        their signing secret is a fresh random one. Returns the configuration as the stack runs it."""
        import secrets

        from .platform_api import PlatformApi

        self.platform_api = None
        api_platforms = sorted(p for p, doc in config.platforms.items() if doc.get("channel") == "api")
        if not api_platforms:
            return config
        self.platform_api = PlatformApi(secrets.token_hex(32).encode()).start()
        self._stack.callback(self.platform_api.close)
        routes = {"platforms": {p: {"address": f"{self.platform_api.base_url}/{p}/notices"} for p in api_platforms}}
        self.overrides = _merged(self.overrides, routes)
        return load(self.env_name, overrides=self.overrides)

    def _start_thread(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def stop_pollers(self) -> None:
        """Stop the queue pollers and the scheduler for good, and wait for them (resources,
        the review API and mail stay up): for tests that invoke a handler themselves and
        must not race a poller. `ingest_paused()` holds the pollers for a while instead."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)

    def close(self) -> None:
        self.stop_pollers()
        if self._front is not None:
            self._front.stop()
        if self._media is not None:
            self._media.stop()
            os.environ.pop("MEDIA_ENDPOINT_URL", None)
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

    # ------------------------------------------------------------------ resources (resources.py)
    def _create_resources(self) -> None:
        built = TemplateResources(self.template, env_name=self.env_name, region=self.region, client=self.client,
                                  review_base_url=self.review_base_url)
        # the same containers, filled as resources are created (a failure leaves them as far as it got)
        self.resources, self.functions_env, self.mappings = built.resources, built.functions_env, built.mappings
        self.schedules, self.partner_buckets = built.schedules, built.partner_buckets
        built.create_all()
        self.definition = built.definition

    # ------------------------------------------------------------------ SQS -> Lambda (poller.py)
    @contextmanager
    def ingest_paused(self) -> Iterator[None]:
        """Hold the queue pollers (like disabling the event source mapping): messages pile up in
        the queue and are received in full batches when the block ends."""
        self._paused.set()
        try:
            yield
        finally:
            self._paused.clear()

    # ------------------------------------------------------------------ schedules (scheduler.py)
    def _scheduler(self) -> Scheduler:
        return Scheduler(self.schedules, self.client, self._stop)

    def run_schedules_now(self) -> None:
        """Fire every scheduled rule once (time passing, for local runs and tests)."""
        self._scheduler().run_now()

    # ------------------------------------------------------------------ API Gateway (apigw.py, http_front.py)
    def _start_review_front(self) -> None:
        from .http_front import ReviewFront

        # Looked up on every request, so a test may wrap the instance's call_review_api.
        self._front = ReviewFront(lambda *a: self.call_review_api(*a), port=self.review_port)
        self.review_base_url = self._front.start()

    def _start_media_front(self) -> None:
        """The clips' signed links point here (the review API signs for MEDIA_ENDPOINT_URL);
        the front checks each as S3 would and reads the object from moto."""
        from .media_front import MediaFront, process_credentials

        self._media = MediaFront(lambda: self.client("s3"), credentials=process_credentials)
        self.media_origin = self._media.start()
        os.environ["MEDIA_ENDPOINT_URL"] = self.media_origin

    def call_review_api(self, method: str, path: str, query: Pairs, headers: Pairs,
                        body: str | None, source_ip: str = "127.0.0.1") -> tuple[int, dict[str, str], str]:
        """API Gateway REST proxy integration: request -> event -> Lambda -> response. `query` and
        `headers` are a mapping or (name, value) pairs (a repeated name keeps every value)."""
        event = proxy_event(method, path, query, headers, body, source_ip, account_id=ACCOUNT)
        fn = self.function_name("takedown_handlers.review_api.handler")
        resp = self.client("lambda").invoke(FunctionName=fn, Payload=json.dumps(event).encode())
        payload = json.loads(resp["Payload"].read() or b"null")
        return http_response(payload, bool(resp.get("FunctionError")))

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
        return one_of(self.resources, rtype, contains)

    @property
    def shards_per_function(self) -> int:
        """The fingerprint function's SHARDS_PER_FUNCTION as the template sets it (0: it searches
        every shard itself; otherwise an index of more shards is searched by fan-out)."""
        fn = self.function_name("takedown_handlers.ingest.handler")
        return int(self.functions_env.get(fn, {}).get("SHARDS_PER_FUNCTION", "0"))

    @property
    def table_name(self) -> str:
        return self._one("AWS::DynamoDB::Table", "CasesTable").ref

    @property
    def catalog_bucket(self) -> str:
        return self._one("AWS::S3::Bucket", "CatalogueIndexBucket").ref

    @property
    def evidence_bucket(self) -> str:
        return self._one("AWS::S3::Bucket", "CasesEvidence").ref

    @property
    def reference_bucket(self) -> str:
        return self._one("AWS::S3::Bucket", "IndexBuildReferences").ref

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
        return [_raw_mail(m) if hasattr(m, "raw_data") else
                {"id": m.id, "from": m.source, "to": m.destinations.get("ToAddresses", []),
                 "subject": m.subject, "body": m.body, "text": getattr(m, "text", None), "attachments": {}}
                for m in list(backend.sent_messages)]

    def queue_links(self, now: float | None = None) -> list[dict[str, str]]:
        """Each configured reviewer's queue link (``{"reviewer", "url"}``), signed now with the
        stack's link key and valid as long as a review link sent now, as the mails carry it."""
        import time

        from takedown_adapters.aws import read_secret_bytes
        from takedown_core.review_links import queue_url

        env = self.functions_env[self.function_name("takedown_handlers.workflow.handler")]
        key = read_secret_bytes(self.client("secretsmanager"), env["LINK_KEY_SECRET_ARN"])
        if env.get("REVIEWERS_PARAMETER"):  # deployed as an SSM parameter (the stack's way), else a variable
            value = self.client("ssm").get_parameter(Name=env["REVIEWERS_PARAMETER"])["Parameter"]["Value"]
        else:
            value = env["REVIEWERS"]
        reviewers = json.loads(value)
        expires = int(time.time() if now is None else now) + int(env["LINK_TTL_SECONDS"])
        out = []
        for reviewer in dict.fromkeys([*reviewers["allow"], reviewers["fallback"]]):
            out.append({"reviewer": reviewer, "url": queue_url(self.review_base_url, key=key, reviewer=reviewer,
                                                               expires_at=expires)})
        return out

    def review_links(self) -> list[dict[str, str]]:
        """Review links found in the captured mail, newest last (each mail is read once)."""
        from moto.ses.models import ses_backends

        pattern = re.compile(re.escape(self.review_base_url) + r"/review/[^\s\"'<>]+")
        with self._links_lock:
            sent = list(ses_backends[ACCOUNT][self.region].sent_messages)
            for m in sent[self._links_read:]:
                if hasattr(m, "raw_data"):  # a notice (SendRawEmail): it holds no review link
                    continue
                for url in pattern.findall(m.body):
                    self._links.append({"to": ", ".join(m.destinations.get("ToAddresses", [])), "subject": m.subject,
                                        "url": html.unescape(url)})
            self._links_read = len(sent)
            return list(self._links)


def _raw_mail(m: Any) -> dict[str, Any]:
    """A raw message SES took (SendRawEmail: notices), read back like the others: ``body`` is
    the HTML part when there is one, else the text (what moto keeps of a SendEmail), ``text``
    the text part, ``attachments`` the attached files by name, ``raw`` the bytes as sent."""
    from email import message_from_string
    from email.policy import default

    msg = message_from_string(m.raw_data, policy=default)
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    text_s = text.get_content() if text else ""
    html_s = html.get_content() if html else ""
    to: list[str] = []
    for address in m.destinations:  # moto adds the To header's addresses to the Destinations given
        bare = address.split("<")[-1].rstrip(">").strip()
        if bare not in to:
            to.append(bare)
    return {"id": m.id, "from": m.source, "to": to, "subject": str(msg["Subject"] or ""),
            "body": html_s or text_s, "text": text_s,
            "attachments": {a.get_filename(): a.get_content() for a in msg.iter_attachments()},
            "raw": m.raw_data}


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
