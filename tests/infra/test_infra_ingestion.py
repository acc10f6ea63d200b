"""Ingestion: partner landing buckets -> ingest queue (DLQ) -> fingerprint Lambda."""

from __future__ import annotations

from aws_cdk.assertions import Match

INGEST_ENV = (
    "TABLE_NAME", "IDEMPOTENCY_TABLE", "CATALOG_BUCKET", "QUARANTINE_BUCKET", "PARTNERS",
    "MAX_UPLOAD_BYTES", "MAX_AUDIO_SECONDS", "MAX_FALSE_MATCH_RATE", "STATE_MACHINE_ARN",
)


def test_given_cdk_json_partners_when_synthesized_then_one_landing_bucket_per_partner(each_env, cdk_environments):
    partners = [p["id"] for p in cdk_environments[each_env.env]["partners"]]

    buckets = each_env.landing_buckets()

    assert sorted(buckets) == sorted(partners)
    assert len(set(buckets.values())) == len(partners)


def test_given_landing_buckets_when_synthesized_then_each_notifies_the_ingest_queue_on_object_created(each_env):
    queue_lid, _ = each_env.ingest_queue()
    notifications = each_env.of_type("Custom::S3BucketNotifications")

    for partner, bucket_lid in each_env.landing_buckets().items():
        mine = [n for n in notifications.values() if n["Properties"]["BucketName"] == {"Ref": bucket_lid}]
        assert len(mine) == 1, f"{partner}: {len(mine)} notification resources"
        queue_configs = mine[0]["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
        assert {"Events": ["s3:ObjectCreated:*"], "QueueArn": {"Fn::GetAtt": [queue_lid, "Arn"]}} in [
            {k: c[k] for k in ("Events", "QueueArn")} for c in queue_configs
        ], f"{partner}: {queue_configs}"


def test_given_landing_buckets_when_synthesized_then_the_queue_policy_lets_each_bucket_send(each_env):
    queue_lid, _ = each_env.ingest_queue()
    statements = [
        st
        for pol in each_env.of_type("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_lid} in pol["Properties"]["Queues"]
        for st in pol["Properties"]["PolicyDocument"]["Statement"]
    ]
    for partner, bucket_lid in each_env.landing_buckets().items():
        assert any(
            st["Effect"] == "Allow"
            and st.get("Principal") == {"Service": "s3.amazonaws.com"}
            and "sqs:SendMessage" in st["Action"]
            and st["Condition"]["ArnLike"]["aws:SourceArn"] == {"Fn::GetAtt": [bucket_lid, "Arn"]}
            for st in statements
        ), f"{partner}: S3 may not send to the ingest queue"


def test_given_every_bucket_when_synthesized_then_private_encrypted_and_ssl_only(each_env):
    buckets = each_env.of_type("AWS::S3::Bucket")
    policies = each_env.of_type("AWS::S3::BucketPolicy")
    assert buckets

    for lid, b in buckets.items():
        props = b["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
        }, lid
        sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert sse["SSEAlgorithm"] in ("AES256", "aws:kms"), lid
        denies_plain_http = [
            st
            for pol in policies.values()
            if pol["Properties"]["Bucket"] == {"Ref": lid}
            for st in pol["Properties"]["PolicyDocument"]["Statement"]
            if st["Effect"] == "Deny" and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies_plain_http, f"{lid}: no enforce-SSL bucket policy"


def test_given_the_ingest_queue_when_synthesized_then_it_redrives_to_the_dlq_after_5_receives(each_env):
    queue_lid, queue = each_env.ingest_queue()
    dlq_lid = each_env.dlq_lid()

    assert dlq_lid != queue_lid
    assert each_env.resources[dlq_lid]["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_lid, "Arn"]},
        "maxReceiveCount": 5,
    }


def test_given_the_fingerprint_function_when_synthesized_then_it_reads_the_queue_in_batches_reporting_item_failures(dev):
    fn_lid, fn = dev.function_for("ingest")
    queue_lid, queue = dev.ingest_queue()

    dev.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": fn_lid},
            "EventSourceArn": {"Fn::GetAtt": [queue_lid, "Arn"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": Match.any_value(),
        },
    )
    # AWS rejects an SQS event source whose visibility timeout is shorter than the function's.
    assert queue["Properties"]["VisibilityTimeout"] >= fn["Properties"]["Timeout"]


def test_given_the_fingerprint_function_when_synthesized_then_it_has_the_settings_the_handler_reads(each_env):
    fn_lid, _ = each_env.function_for("ingest")
    env = each_env.env_vars(fn_lid)

    missing = [k for k in INGEST_ENV if k not in env]

    assert not missing
    cfg = each_env.config
    assert env["MAX_UPLOAD_BYTES"] == str(cfg.limits["max_upload_mb"] * 1024 * 1024)
    assert env["MAX_AUDIO_SECONDS"] == str(cfg.limits["max_audio_seconds"])
    assert float(env["MAX_FALSE_MATCH_RATE"]) == cfg.match["max_false_match_rate"]
    sm_lid, _ = each_env.state_machine()
    assert env["STATE_MACHINE_ARN"] == {"Ref": sm_lid}


def test_given_partners_when_synthesized_then_the_partners_setting_names_each_landing_bucket(each_env):
    fn_lid, _ = each_env.function_for("ingest")
    partners_env = each_env.env_vars(fn_lid)["PARTNERS"]
    joined = partners_env["Fn::Join"][1] if isinstance(partners_env, dict) else [partners_env]

    for partner, bucket_lid in each_env.landing_buckets().items():
        assert f'"id":"{partner}"' in "".join(p for p in joined if isinstance(p, str))
        assert {"Ref": bucket_lid} in joined, f"{partner}: bucket not in PARTNERS"


def test_given_the_fingerprint_function_when_synthesized_then_it_may_start_the_case_workflow(dev):
    fn_lid, _ = dev.function_for("ingest")
    sm_lid, _ = dev.state_machine()

    assert {"Ref": sm_lid} in dev.allowed(fn_lid, "states:StartExecution")


def test_given_a_sharded_catalogue_when_synthesized_then_the_fingerprint_function_fans_out_to_the_shard_function(each_env, cdk_environments):
    fn_lid, _ = each_env.function_for("ingest")
    shard_lid, shard = each_env.function_for("shard_match")
    env = each_env.env_vars(fn_lid)

    assert env["SHARD_MATCH_FUNCTION"] == {"Ref": shard_lid}
    per = cdk_environments[each_env.env]["match"].get("shards_per_function", 0)
    assert env["SHARDS_PER_FUNCTION"] == str(per)
    invocable = each_env.allowed(fn_lid, "lambda:InvokeFunction")
    assert {"Fn::GetAtt": [shard_lid, "Arn"]} in invocable
    # the shard function reads the index and nothing else: no table, no queue, no mail
    assert set(each_env.env_vars(shard_lid)) - {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"} == {"CATALOG_BUCKET", "GLIBC_TUNABLES"}
    assert shard["Properties"]["MemorySize"] >= 1024 and shard["Properties"]["EphemeralStorage"]["Size"] >= 2048
    assert not each_env.allowed(shard_lid, "dynamodb:PutItem") and not each_env.allowed(shard_lid, "s3:PutObject")


def test_given_a_negative_shards_per_function_then_the_environment_is_refused():
    import pytest

    from takedown_infra.config import ConfigError, load

    with pytest.raises(ConfigError, match="shards_per_function"):
        load("dev", overrides={"match": {"shards_per_function": -1}})


def test_given_the_functions_that_search_when_synthesized_then_glibc_keeps_their_big_temporaries(each_env):
    """Both functions that search shards keep freed memory for the next query (takedown_infra.tuning):
    without it every query page-faults its 100-200 MB temporaries in again."""
    for module in ("ingest", "shard_match"):
        lid, _ = each_env.function_for(module)
        tunables = dict(t.split("=") for t in each_env.env_vars(lid)["GLIBC_TUNABLES"].split(":"))
        assert tunables["glibc.malloc.mmap_max"] == "0"
        assert int(tunables["glibc.malloc.trim_threshold"]) >= 10240 * 1024 * 1024  # above Lambda's largest memory
