"""The stack composes the constructs and makes the grants; one Stage per environment."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from . import components as c
from .config import EnvConfig
from .nag import acknowledge


class TakedownStack(cdk.Stack):
    def __init__(self, scope: Construct, cid: str, *, config: EnvConfig, **kw) -> None:
        # prod: CloudFormation refuses to delete the stack until someone turns this off
        super().__init__(scope, cid, termination_protection=config.retain_data, **kw)
        # S3 server access logs are delivered under a bucket policy for logging.s3.amazonaws.com,
        # not the LogDelivery group's ACL (AWS's advice since ACLs are disabled by default)
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        retain = config.retain_data
        # read by components.log_group / access_log_bucket for every construct below
        self.log_retention_days, self.retain_data = config.log_retention_days, retain
        self.env_name = config.name  # SSM settings live under /takedown/<env>/ (components.settings_parameter)
        code = c.LambdaCode(self, "Code")
        self.cases = c.Cases(self, "Cases", retain=retain)
        self.catalogue = c.Catalogue(self, "Catalogue", retain=retain)
        self.ingestion = c.Ingestion(
            self,
            "Ingestion",
            partners=config.partners,
            retain=retain,
            code=code,
            table=self.cases.table,
            idempotency=self.cases.idempotency,
            catalogue=self.catalogue.bucket,
            evidence=self.cases.evidence,
            platforms=config.platforms,
            limits=config.limits,
            match=config.match,
            likeness=config.likeness,
        )
        self.notices = c.Notices(
            self,
            "Notices",
            code=code,
            table=self.cases.table,
            sender=config.sender,
            complainant=config.complainant,
            platforms=config.platforms,
            evidence=self.cases.evidence,
            rights_desk=config.rights_desk,
            api_secrets=config.api_secrets,
        )
        self.review = c.Review(
            self,
            "Review",
            code=code,
            table=self.cases.table,
            sender=config.sender,
            reviewers=config.reviewers,
            review=config.review,
            counter_notice=config.counter_notice,
            sender_identity=self.notices.sender_identity,
        )
        self.workflow = c.Workflow(
            self,
            "Workflow",
            steps=self.review.workflow_function,
            dispatch=self.notices.function,
            review=config.review,
            notice=config.notice,
            name=f"takedown-case-{config.name}",
        )
        sm = self.workflow.state_machine
        self.ingestion.function.add_environment("STATE_MACHINE_ARN", sm.state_machine_arn)
        sm.grant_start_execution(self.ingestion.function)
        # The review API resumes this state machine's executions (approve and reject both
        # resume with SendTaskSuccess). No cycle: the steps function's REVIEW_BASE_URL names
        # the RestApi, not its stage (components.review_base_url).
        sm.grant_task_response(self.review.api_function)
        # The index build: a Distributed Map over the reference bucket, then the reduce that
        # publishes a new index version (README, "Building the catalogue").
        self.index_build = c.IndexBuild(self, "IndexBuild", code=code, catalogue=self.catalogue.bucket, retain=retain,
                                        name=f"takedown-catalogue-build-{config.name}")
        c.grant_review_clips(review=self.review, evidence=self.cases.evidence,
                             landing=list(self.ingestion.partner_buckets.values()),
                             references=self.index_build.references if config.review.get("reference_audio") else None)
        self.reconciler = c.Reconciler(self, "Reconciler", code=code, table=self.cases.table, state_machine=sm,
                                       state_machine_name=f"takedown-case-{config.name}")
        self.compliance = c.Compliance(self, "Compliance", code=code, table=self.cases.table, sender=config.sender,
                                       sender_identity=self.notices.sender_identity, settings=config.compliance,
                                       gone_markers=config.gone_markers)
        self.monitoring = c.Monitoring(
            self,
            "Monitoring",
            dlq=self.ingestion.dlq,
            state_machine=sm,
            functions=[
                self.ingestion.function,
                self.ingestion.shard_function,
                self.notices.function,
                self.review.api_function,
                self.review.workflow_function,
                self.reconciler.function,
                self.compliance.function,
                self.index_build.fingerprint_function,
                self.index_build.reduce_function,
            ],
            alarm_email=config.alarm_email,
            build_state_machine=self.index_build.state_machine,
        )
        cdk.CfnOutput(self, "ReviewApiUrl", value=self.review.api.url)
        cdk.CfnOutput(self, "CatalogueBucket", value=self.catalogue.bucket.bucket_name)
        cdk.CfnOutput(self, "CasesTable", value=self.cases.table.table_name)
        cdk.CfnOutput(self, "ReferenceBucket", value=self.index_build.references.bucket_name)
        cdk.CfnOutput(self, "CatalogueBuildStateMachine", value=self.index_build.state_machine.state_machine_arn)
        cdk.CfnOutput(self, "WorkflowFunction", value=self.review.workflow_function.function_name)
        cdk.CfnOutput(self, "IngestQueueUrl", value=self.ingestion.queue.queue_url)
        cdk.CfnOutput(self, "IngestDLQUrl", value=self.ingestion.dlq.queue_url)
        cdk.CfnOutput(self, "QuarantineBucket", value=self.ingestion.quarantine.bucket_name)
        for pid, bucket in self.ingestion.partner_buckets.items():
            cdk.CfnOutput(self, f"LandingBucket{pid.replace('-', '')}", value=bucket.bucket_name)
        acknowledge(self)  # cdk-nag findings that are by design, each with its reason (nag.py)


class TakedownStage(cdk.Stage):
    def __init__(self, scope: Construct, cid: str, *, config: EnvConfig, **kw) -> None:
        super().__init__(scope, cid, **kw)
        self.stack = TakedownStack(self, "Takedown", config=config)
