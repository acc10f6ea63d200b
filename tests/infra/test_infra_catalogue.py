"""Catalogue: the fingerprint index bucket, versioned and read-only to the matcher."""

from __future__ import annotations


def _catalogue_bucket(synth):
    fn_lid, _ = synth.function_for("ingest")
    return synth.env_vars(fn_lid)["CATALOG_BUCKET"]["Ref"]


def test_given_the_catalogue_when_synthesized_then_its_bucket_is_versioned(each_env):
    lid = _catalogue_bucket(each_env)

    assert each_env.resources[lid]["Type"] == "AWS::S3::Bucket"
    assert each_env.resources[lid]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


def test_given_the_catalogue_when_synthesized_then_the_fingerprint_function_only_reads_it(dev):
    lid = _catalogue_bucket(dev)
    fn_lid, _ = dev.function_for("ingest")

    writes = [
        st for st in dev.role_statements(fn_lid)
        if any(a.startswith(("s3:Put", "s3:Delete")) for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]]))
        and lid in str(st["Resource"])
    ]
    reads = [r for r in dev.allowed(fn_lid, "s3:GetObject") if lid in str(r)]

    assert writes == []
    assert reads


def test_given_the_index_prefix_the_readers_are_granted_then_it_is_where_the_index_store_writes(each_env):
    from takedown_adapters.aws import S3IndexStore
    from takedown_infra.components import INDEX_PREFIX

    lid = _catalogue_bucket(each_env)
    assert INDEX_PREFIX == S3IndexStore.PREFIX
    for module in ("ingest", "shard_match"):
        fn_lid, _ = each_env.function_for(module)
        assert {"Fn::Join": ["", [{"Fn::GetAtt": [lid, "Arn"]}, f"/{INDEX_PREFIX}/*"]]} in each_env.allowed(fn_lid, "s3:GetObject")
        # a missing CURRENT must be a 404 (NoSuchKey: "no index yet"), which S3 only answers with ListBucket
        assert {"Fn::GetAtt": [lid, "Arn"]} in each_env.allowed(fn_lid, "s3:ListBucket")
