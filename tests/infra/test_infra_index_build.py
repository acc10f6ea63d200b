"""The index build: a Distributed Map over the reference bucket, a Lambda per batch, a reduce
that publishes a new index version; each with only the S3 access it needs."""

from __future__ import annotations

from takedown_infra.components import (
    ARTIFACT_PREFIX,
    BUILD_BATCH_TIMEOUT,
    BUILD_BATCH_TRACKS,
    BUILD_REDUCE_MEMORY,
    BUILD_REDUCE_TMP,
    INDEX_PREFIX,
)


def _lids(synth):
    fp, _ = synth.function_for("catalog_fingerprint")
    red, _ = synth.function_for("catalog_reduce")
    refs = synth.env_vars(fp)["REFERENCE_BUCKET"]["Ref"]
    cat = synth.env_vars(fp)["CATALOG_BUCKET"]["Ref"]
    return fp, red, refs, cat


def _writes(synth, fn_lid):
    out = []
    for st in synth.role_statements(fn_lid):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        if any(a.startswith(("s3:Put", "s3:Delete")) for a in actions):
            out += st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
    return out


def _objects(bucket_lid, prefix):
    return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_lid, "Arn"]}, f"/{prefix}*"]]}


def test_given_the_build_when_synthesized_then_a_distributed_map_lists_the_reference_bucket_then_the_reduce_runs(each_env):
    fp, red, refs, _ = _lids(each_env)
    asl = each_env.asl("CatalogueBuild")
    fan_out = asl["States"][asl["StartAt"]]

    assert fan_out["Type"] == "Map"
    assert fan_out["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert fan_out["ItemReader"]["Resource"].endswith(":states:::s3:listObjectsV2")
    assert fan_out["ItemReader"]["Parameters"]["Bucket"] == "${Ref:%s}" % refs
    assert fan_out["ItemBatcher"] == {"MaxItemsPerBatch": BUILD_BATCH_TRACKS}
    inner = fan_out["ItemProcessor"]["States"]
    (task,) = inner.values()
    assert task["Resource"] == "${GetAtt:%s.Arn}" % fp
    # results go to S3, not into the state: the state machine's payload limit is 256 KB
    assert fan_out["ResultWriter"]["Resource"].endswith(":states:::s3:putObject")
    reduce = asl["States"][fan_out["Next"]]
    assert reduce["Resource"] == "${GetAtt:%s.Arn}" % red
    assert reduce["Parameters"] == {"map.$": "$.map"}
    assert reduce.get("End") is True


def test_given_the_build_functions_when_synthesized_then_they_have_lambdas_largest_limits_where_they_need_them(dev):
    fp, red, _, _ = _lids(dev)
    fpp, redp = dev.resources[fp]["Properties"], dev.resources[red]["Properties"]

    assert fpp["Timeout"] == BUILD_BATCH_TIMEOUT == 900
    assert redp["Timeout"] == 900
    assert redp["MemorySize"] == BUILD_REDUCE_MEMORY == 10240
    assert redp["EphemeralStorage"] == {"Size": BUILD_REDUCE_TMP}
    for lid in (fp, red):
        assert dev.env_vars(lid)["ARTIFACT_PREFIX"] == ARTIFACT_PREFIX


def test_given_the_batch_function_when_synthesized_then_it_writes_only_artifacts(each_env):
    fp, _, refs, cat = _lids(each_env)

    assert _writes(each_env, fp) == [_objects(cat, f"{ARTIFACT_PREFIX}/")]
    assert _objects(refs, "") in each_env.allowed(fp, "s3:GetObject")
    assert {"Fn::GetAtt": [refs, "Arn"]} in each_env.allowed(fp, "s3:ListBucket")
    assert not any(INDEX_PREFIX in str(r) for r in each_env.allowed(fp, "s3:GetObject"))


def test_given_the_reduce_function_when_synthesized_then_it_writes_only_index_versions(each_env):
    _, red, refs, cat = _lids(each_env)

    assert _writes(each_env, red) == [_objects(cat, f"{INDEX_PREFIX}/")]
    reads = each_env.allowed(red, "s3:GetObject")
    assert _objects(cat, f"{ARTIFACT_PREFIX}/") in reads and _objects(refs, "") in reads
    # the previous CURRENT is read before it moves (the reduce reports it)
    assert _objects(cat, f"{INDEX_PREFIX}/") in reads


def test_given_the_build_state_machine_when_synthesized_then_it_lists_references_but_reads_no_object(each_env):
    lid, _ = each_env.state_machine("CatalogueBuild")
    role = each_env.resources[lid]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    _, _, refs, cat = _lids(each_env)
    statements = [st for pol in each_env.of_type("AWS::IAM::Policy").values()
                  if {"Ref": role} in pol["Properties"].get("Roles", [])
                  for st in pol["Properties"]["PolicyDocument"]["Statement"]]
    text = str(statements)

    assert any(st["Action"] == "s3:ListBucket" and st["Resource"] == {"Fn::GetAtt": [refs, "Arn"]} for st in statements)
    assert refs + "', 'Arn']}, '/" not in text  # no object of the reference bucket
    assert cat not in text  # the catalogue bucket: none (the functions write it)
