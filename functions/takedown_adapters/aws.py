"""boto3 adapters for the domain's ports: S3 media and index, SES, Step Functions, secrets."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError

from takedown_core.cases import utcnow
from takedown_core.ports import TooLarge
from takedown_core.ports import DeliveryInDoubt, IndexUnavailable
from takedown_core.engine.index import shard_files

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024  # bytes per streamed read


class S3MediaStore:
    def __init__(self, s3: Any, quarantine_bucket: str) -> None:
        self.s3, self.quarantine_bucket = s3, quarantine_bucket

    def download(self, bucket: str, key: str, dest: str, *, max_bytes: int) -> tuple[str, int]:
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
        digest, size = hashlib.sha256(), 0
        with open(dest, "wb") as f:
            for chunk in iter(lambda: body.read(CHUNK), b""):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"{bucket}/{key} is over {max_bytes} bytes")
                digest.update(chunk)
                f.write(chunk)
        return digest.hexdigest(), size

    def read_first(self, bucket: str, keys: list[str], *, max_bytes: int) -> tuple[str, bytes] | None:
        for key in keys:
            try:
                body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
            except ClientError as e:
                if e.response["Error"]["Code"] in ("NoSuchKey", "404", "NotFound"):
                    continue
                raise
            return key, body.read(max_bytes)
        return None

    def quarantine(self, bucket: str, key: str, *, reason: str, detail: str) -> str:
        qkey = f"{bucket}/{key}"
        try:
            self.s3.copy_object(
                Bucket=self.quarantine_bucket, Key=qkey, CopySource={"Bucket": bucket, "Key": key},
                MetadataDirective="REPLACE",
                Metadata={"takedown-reason": reason, "takedown-source": f"s3://{bucket}/{key}"},
            )
        except ClientError as e:
            if e.response["Error"]["Code"] not in ("NoSuchKey", "404"):
                raise
        self.s3.put_object(
            Bucket=self.quarantine_bucket, Key=f"{qkey}.reason.json",
            Body=json.dumps({"source": f"s3://{bucket}/{key}", "reason": reason, "detail": detail,
                             "at": utcnow()}).encode(),
            ContentType="application/json",
        )
        return f"s3://{self.quarantine_bucket}/{qkey}"


class S3EvidenceStore:
    """Full match evidence as JSON objects in the evidence bucket (the case item keeps a
    bounded copy and this object's URI)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def put(self, key: str, document: dict[str, Any]) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, ContentType="application/json",
                           Body=json.dumps(document, sort_keys=True, default=str).encode())
        return f"s3://{self.bucket}/{key}"

    def copy(self, uri: str, key: str) -> str:
        bucket, _, src = uri.removeprefix("s3://").partition("/")
        self.s3.copy_object(Bucket=self.bucket, Key=key, CopySource={"Bucket": bucket, "Key": src})
        return f"s3://{self.bucket}/{key}"


class IndexVersionExists(ValueError):
    """A published index version is immutable: publishing under an existing name is refused."""


class S3IndexStore:
    """Versioned index in S3: indexes/<version>/<files>, and indexes/CURRENT naming one.

    A version is immutable: publishing refuses a name that exists (checked first, then made
    atomic by writing the manifest with If-None-Match), writes the data files, the manifest
    last, then flips CURRENT. An index's identity is its content: the sha256 of its manifest,
    which holds the sha256 of every other file. Readers key their local cache by it and check
    every file they download against the manifest, so a changed or partial index is refused
    (``IndexUnavailable``), never used under a name it no longer deserves.
    """

    PREFIX = "indexes"

    def __init__(self, s3: Any, bucket: str, cache_dir: str = "/tmp/takedown-index") -> None:
        self.s3, self.bucket, self.cache_dir = s3, bucket, Path(cache_dir)

    def publish(self, local_dir: str | Path, version: str) -> str:
        """Upload ``local_dir`` as ``version`` and make it CURRENT; returns the manifest's sha256.

        Raises IndexVersionExists if ``version`` was published before, ValueError if
        ``local_dir`` holds no manifest."""
        local_dir = Path(local_dir)
        files = sorted(p for p in local_dir.iterdir() if p.is_file())
        if not any(p.name == "manifest.json" for p in files):
            raise ValueError(f"{local_dir} has no manifest.json: not an index")
        manifest_key = f"{self.PREFIX}/{version}/manifest.json"
        if self._exists(manifest_key):
            raise IndexVersionExists(f"index version {version} is already published; versions are immutable:"
                                     " publish under a new version name")
        for p in files:  # manifest last: a reader never sees a manifest without its shards
            if p.name != "manifest.json":
                self.s3.upload_file(str(p), self.bucket, f"{self.PREFIX}/{version}/{p.name}")
        manifest = (local_dir / "manifest.json").read_bytes()
        try:
            self.s3.put_object(Bucket=self.bucket, Key=manifest_key, Body=manifest, IfNoneMatch="*")
        except ClientError as e:
            if e.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise IndexVersionExists(f"index version {version} was published by someone else meanwhile") from e
            raise
        self.s3.put_object(Bucket=self.bucket, Key=f"{self.PREFIX}/CURRENT", Body=version.encode())
        return hashlib.sha256(manifest).hexdigest()

    def _exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as e:
            if e.response["Error"]["Code"] in ("NoSuchKey", "404", "NotFound"):
                return False
            raise

    def current_version(self) -> str | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=f"{self.PREFIX}/CURRENT")["Body"].read().decode().strip()
        except ClientError as e:
            if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise

    def current(self) -> tuple[str, str] | None:
        """(version, manifest sha256) of CURRENT, or None if nothing was published.
        Raises IndexUnavailable if CURRENT names a version without a manifest."""
        version = self.current_version()
        if version is None:
            return None
        return version, hashlib.sha256(self._manifest_bytes(version)).hexdigest()

    def _manifest_bytes(self, version: str) -> bytes:
        key = f"{self.PREFIX}/{version}/manifest.json"
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as e:
            if e.response["Error"]["Code"] in ("NoSuchKey", "404", "NotFound"):
                raise IndexUnavailable(f"index version {version} has no s3://{self.bucket}/{key}") from e
            raise

    def fetch(self, version: str, shards: list[int] | None = None, *, digest: str | None = None) -> Path:
        """The version's files in the local cache (all, or the manifest, track list and the
        given shards only: a shard matcher never downloads the shards it does not search).

        The cache folder is named by the manifest's sha256, and each download is checked
        against the manifest's sha256 for that file and lands under a temporary name first,
        so a reader never sees half a file or a file of another index. ``digest``, when
        given, is the manifest sha256 the caller expects. Raises IndexUnavailable for a
        missing or altered file or an unexpected manifest; ValueError for unknown shards."""
        raw = self._manifest_bytes(version)
        actual = hashlib.sha256(raw).hexdigest()
        if digest and actual != digest:
            raise IndexUnavailable(f"index version {version} changed: its manifest is {actual[:12]}, "
                                   f"expected {digest[:12]}")
        manifest = json.loads(raw)
        dest = self.cache_dir / actual
        dest.mkdir(parents=True, exist_ok=True)
        if not (dest / "manifest.json").exists():
            tmp = dest / f".manifest.json.partial-{os.getpid()}-{threading.get_ident()}"
            tmp.write_bytes(raw)
            os.replace(tmp, dest / "manifest.json")
        if shards is None:
            names = list(manifest["files"])
        else:
            by_number = {int(s["number"]): s for s in manifest["shards"]}
            unknown = sorted(set(shards) - set(by_number))
            if unknown:
                raise ValueError(f"index version {version} has no shard(s) {unknown}")
            names = [manifest["tracks_file"]] + [name for n in sorted(set(shards)) for name in shard_files(by_number[n])]
        for name in names:
            self._download(f"{self.PREFIX}/{version}/{name}", dest / name, version, manifest["files"].get(name))
        return dest

    def _download(self, key: str, path: Path, version: str, sha256: str | None) -> None:
        if path.exists():
            return
        tmp = path.with_name(f".{path.name}.partial-{os.getpid()}-{threading.get_ident()}")
        try:
            self.s3.download_file(self.bucket, key, str(tmp))
        except ClientError as e:
            if e.response["Error"]["Code"] in ("NoSuchKey", "404", "NotFound"):
                raise IndexUnavailable(f"index version {version} is partial: it has no s3://{self.bucket}/{key}") from e
            raise
        if sha256 is None or _file_sha256(tmp) != sha256:
            tmp.unlink(missing_ok=True)
            raise IndexUnavailable(f"index version {version}: s3://{self.bucket}/{key} does not match the manifest's"
                                   " checksum (altered or partly uploaded)")
        os.replace(tmp, path)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


class SesMailer:
    def __init__(self, ses: Any, sender: str) -> None:
        self.ses, self.sender = ses, sender

    def send(self, *, to: list[str], subject: str, text: str, html: str | None = None) -> str:
        body: dict[str, Any] = {"Text": {"Data": text, "Charset": "UTF-8"}}
        if html:
            body["Html"] = {"Data": html, "Charset": "UTF-8"}
        try:
            r = self.ses.send_email(
                Source=self.sender,
                Destination={"ToAddresses": list(to)},
                Message={"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body},
            )
        except ReadTimeoutError as e:  # sent, unanswered: SES may have taken it
            raise DeliveryInDoubt(f"SES did not answer after the message was sent ({e})") from e
        return r["MessageId"]


class StepFunctionsStarter:
    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self.sfn, self.arn = sfn, state_machine_arn

    def start(self, case_id: str, payload: dict[str, Any]) -> str:
        try:
            r = self.sfn.start_execution(stateMachineArn=self.arn, name=case_id, input=json.dumps(payload))
            return r["executionArn"]
        except ClientError as e:
            if e.response["Error"]["Code"] == "ExecutionAlreadyExists":
                log.info("execution already started for this case", extra={"case_id": case_id})
                return f"{self.arn.replace(':stateMachine:', ':execution:')}:{case_id}"
            raise


class StepFunctionsExecutions:
    """The reconciler's view of executions: each case's execution is named after the case."""

    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self.sfn = sfn
        self.prefix = state_machine_arn.replace(":stateMachine:", ":execution:") + ":"

    def status(self, case_id: str) -> str | None:
        try:
            return self.sfn.describe_execution(executionArn=self.prefix + case_id)["status"]
        except ClientError as e:
            if e.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return None
            raise


class StepFunctionsCallback:
    def __init__(self, sfn: Any) -> None:
        self.sfn = sfn

    def succeed(self, task_token: str, output: dict[str, Any]) -> None:
        self.sfn.send_task_success(taskToken=task_token, output=json.dumps(output))

    def fail(self, task_token: str, error: str, cause: str) -> None:
        self.sfn.send_task_failure(taskToken=task_token, error=error, cause=cause)


def read_secret_bytes(secrets_client: Any, secret_arn: str) -> bytes:
    value = secrets_client.get_secret_value(SecretId=secret_arn)["SecretString"]
    if len(value) < 32:
        raise ValueError("the review link key is shorter than 32 characters")
    return value.encode()
