"""Who may write into a partner's landing bucket: the partner's AWS principal (cdk.json
``partners[i].principal``), checked at synthesis and granted through the bucket's policy.

A principal is a 12-digit AWS account id (any role or user of that account that the account's
own IAM lets write: the account delegates) or the ARN of one IAM role or user
(``arn:aws:iam::111122223333:role/uploader``, paths allowed). Nothing here imports aws_cdk, so
config.py can check the form without synthesizing.
"""

from __future__ import annotations

import re
from typing import Any

ACCOUNT_ID = re.compile(r"\d{12}")
# IAM names: letters, digits and +=,.@_- (roles and users at most 64 characters), under an
# optional path of the same characters between slashes
IAM_ARN = re.compile(r"arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):(role|user)/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})")
# What a partner may do in its own bucket: write objects (single and multipart) and abort its
# own multipart upload. No read, no list, no delete, no ACL, nothing on any other bucket.
PARTNER_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload")
EXPECTED = ("a 12-digit AWS account id (e.g. \"111122223333\") or the ARN of an IAM role or user "
            "(e.g. \"arn:aws:iam::111122223333:role/takedown-uploader\")")


def principal_problem(value: Any) -> str | None:
    """Why ``value`` is not a usable partner principal, or None when it is."""
    if not isinstance(value, str):
        return f"must be {EXPECTED}, got {type(value).__name__}"
    if ACCOUNT_ID.fullmatch(value) or IAM_ARN.fullmatch(value):
        return None
    return f"must be {EXPECTED}, got {value[:200]!r}"


def principal_kind(value: str) -> str:
    """"account" or "arn" (of a valid principal)."""
    return "account" if ACCOUNT_ID.fullmatch(value) else "arn"


def principal_account(value: str) -> str:
    """The 12-digit account a valid principal belongs to."""
    if ACCOUNT_ID.fullmatch(value):
        return value
    m = IAM_ARN.fullmatch(value)
    assert m, value
    return m.group(2)
