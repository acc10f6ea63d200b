"""S3 stores for the catalogue build (takedown_core.catalog_build): the reference bucket and
the per-track peak artifacts kept in the catalogue bucket."""

from __future__ import annotations

from typing import Any, Iterator

from botocore.exceptions import ClientError

_MISSING = ("NoSuchKey", "404", "NotFound")


class S3References:
    """The reference audio bucket (read only): list, download, read a sidecar."""

    def __init__(self, s3: Any, bucket: str, prefix: str = "") -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix

    def list(self) -> Iterator[tuple[str, str]]:
        """Every object as ``(key, etag without quotes)``, in key order (ListObjectsV2 pages)."""
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"], obj["ETag"].strip('"')

    def download(self, key: str, path: str) -> None:
        self.s3.download_file(self.bucket, key, path)

    def read(self, key: str) -> bytes | None:
        return _get_or_none(self.s3, self.bucket, key)


class S3Artifacts:
    """Per-track artifacts under a prefix of the catalogue bucket: written once per key."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as e:
            if e.response["Error"]["Code"] in _MISSING:
                return False
            raise

    def get(self, key: str) -> bytes | None:
        return _get_or_none(self.s3, self.bucket, key)

    def put(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)


def _get_or_none(s3: Any, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when there is no such object (any other error raises)."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        if e.response["Error"]["Code"] in _MISSING:
            return None
        raise
