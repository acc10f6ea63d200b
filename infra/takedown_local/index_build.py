"""Running the stack's catalogue build state machine (components.IndexBuild) and waiting for it.

Used by ``takedown catalog rebuild`` on the embedded stack (``--local DIR``: the references
are uploaded to the stack's reference bucket first) and on a deployed one (``--state-machine
ARN``), and by the workflow tests. The state machine is the template's; locally moto runs it
with each ItemBatcher replaced by batches of one (distributed_map.py).
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

from takedown_core.catalog_build import is_reference_audio, track_id_for
from takedown_core.clips import reference_pointer_key

from .resources import one_of

BUILD_STATE_MACHINE = "CatalogueBuild"  # logical id fragment (components.IndexBuild)
REFERENCE_BUCKET = "IndexBuildReferences"


class BuildFailed(RuntimeError):
    """The build execution ended in another state than SUCCEEDED (the message says why)."""


def local_names(stack: Any) -> tuple[str, str]:
    """(reference bucket, build state machine ARN) of a running LocalStack."""
    return (one_of(stack.resources, "AWS::S3::Bucket", REFERENCE_BUCKET).ref,
            one_of(stack.resources, "AWS::StepFunctions::StateMachine", BUILD_STATE_MACHINE).ref)


def upload_references(s3: Any, bucket: str, folder: Path) -> int:
    """Put every file under ``folder`` (audio and ``.json`` sidecars, relative paths as keys)
    into ``bucket``; returns the number of audio files."""
    audio = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        key = path.relative_to(folder).as_posix()
        s3.upload_file(str(path), bucket, key)
        audio += is_reference_audio(key) and not key.endswith(".json")
    return audio


def publish_reference_audio(s3: Any, bucket: str, folder: Path) -> int:
    """Fill the reference-audio bucket from a catalogue folder, for the review clips: every
    file as ``upload_references`` puts it (the index build reads the same keys), and for each
    audio file a pointer from its track id to its key (``clips.reference_pointer_key``), which
    is how the review step finds our recording without listing the bucket. Returns the number
    of audio files. A track id that two files share (same base name in two folders) is
    refused: the index build would take them for one track as well."""
    folder = Path(folder)
    seen: dict[str, str] = {}
    audio = [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*"))
             if p.is_file() and not p.name.startswith(".") and is_reference_audio(p.name)]
    for key in audio:
        tid = track_id_for(key)
        if tid in seen:
            raise ValueError(f"{key} and {seen[tid]} have the same track id {tid!r}")
        seen[tid] = key
    count = upload_references(s3, bucket, folder)
    for tid, key in seen.items():
        s3.put_object(Bucket=bucket, Key=reference_pointer_key(tid), Body=json.dumps({"key": key}).encode(),
                      ContentType="application/json")
    return count


def run_build(sfn: Any, state_machine_arn: str, *, timeout_s: float = 3600.0, poll_s: float = 0.2) -> dict:
    """Start one execution of the build state machine, wait for it, return its output (the
    map's ResultWriter details and the reduce's ``index``: version, counts). Raises
    BuildFailed when it does not succeed, TimeoutError after ``timeout_s``."""
    # named (UTC time + random): a readable history, and moto names an unnamed execution "None"
    name = time.strftime("build-%Y%m%dT%H%M%SZ-", time.gmtime()) + secrets.token_hex(4)
    arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input="{}")["executionArn"]
    deadline = time.monotonic() + timeout_s
    while True:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the build {arn} is still running after {timeout_s:.0f} s")
        time.sleep(poll_s)
    if d["status"] != "SUCCEEDED":
        raise BuildFailed(f"the build {arn} ended {d['status']}: {d.get('error') or ''} {d.get('cause') or ''}".strip())
    return json.loads(d.get("output") or "{}")
