"""Make moto fit the local runtime: serialise what it cannot share between threads, and avoid
its quadratic paths (the local runtime only; AWS needs none of this).

The embedded stack runs Step Functions executions, the SQS poller and the review API on
threads of one process, all calling moto's in-process backends. moto's DynamoDB backend is
not thread-safe: ``transact_write_items`` deep-copies every table it touches as a rollback
copy, and a concurrent writer changes the table during the copy ("RuntimeError: dictionary
changed size during iteration", seen under load: 18-31 of 308 cases FAILED). DynamoDB itself
serialises conflicting writes; here one lock around each DynamoDB request does the same.

Re-check on a moto upgrade (pinned in requirements-dev.txt): the patched method is
``moto.dynamodb.responses.DynamoHandler.call_action``, through which every in-process
DynamoDB request passes.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

DYNAMODB_LOCK = threading.RLock()


@contextmanager
def serialised_dynamodb() -> Iterator[threading.RLock]:
    """While active, at most one DynamoDB request is inside moto at a time (undone on exit)."""
    from moto.dynamodb.responses import DynamoHandler

    saved = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with DYNAMODB_LOCK:
            return saved(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    try:
        yield DYNAMODB_LOCK
    finally:
        DynamoHandler.call_action = saved  # type: ignore[method-assign]


class _CopyWithoutTables:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend during a transaction:
    the table-wide rollback copy becomes no copy at all (the caller restores the few items the
    transaction touched instead); every other deep copy is a real one."""

    def __init__(self, real: Any, table_type: type) -> None:
        self.real, self.table_type = real, table_type

    def deepcopy(self, x: Any, memo: Any = None) -> Any:
        return x if isinstance(x, self.table_type) else self.real.deepcopy(x, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@contextmanager
def cheap_transactions() -> Iterator[None]:
    """moto's ``transact_write_items`` deep-copies every table it touches before it writes, as
    its rollback copy: at a few thousand items that is tens of milliseconds per transaction,
    under the lock above, and the local workflow crawls. While active, a transaction instead
    snapshots just the items it names, runs moto's own logic (conditions, errors, writes)
    unchanged, and on any error puts those items back as they were. Requires
    :func:`serialised_dynamodb` (nothing else may touch the table meanwhile)."""
    import copy as real_copy

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    saved = models.DynamoDBBackend.transact_write_items
    stand_in = _CopyWithoutTables(real_copy, Table)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshots = []
        for item in transact_items:
            op = next(iter(item.values()), {})
            name = op.get("TableName")
            if not name or name not in self.tables:
                continue
            table = self.tables[name]
            if "Item" in op:
                key = {table.hash_key_attr: op["Item"].get(table.hash_key_attr)}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"].get(table.range_key_attr)
            else:
                key = op.get("Key") or {}
            if any(v is None for v in key.values()):
                continue
            try:
                before = self.get_item(name, key)
            except Exception:  # noqa: BLE001 - a malformed key: moto's own call reports it
                continue
            snapshots.append((name, key, real_copy.deepcopy(before.to_json()["Attributes"]) if before else None))
        with DYNAMODB_LOCK:
            models.copy = stand_in  # type: ignore[assignment]
            try:
                return saved(self, transact_items)
            except BaseException:
                for name, key, attrs in reversed(snapshots):
                    if attrs is None:
                        if self.get_item(name, key) is not None:
                            self.delete_item(name, key)
                    else:
                        self.put_item(name, attrs)
                raise
            finally:
                models.copy = real_copy  # type: ignore[assignment]

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        models.DynamoDBBackend.transact_write_items = saved  # type: ignore[method-assign]


@contextmanager
def linear_sqs_receive() -> Iterator[None]:
    """moto's ``receive_message`` checks each candidate message's retention by computing every
    attribute of the queue, including the approximate message counts, which walk every message:
    one receive costs O(n^2) in the queue's length, and at 1,000 queued uploads the poller spent
    half its time there. While active, the retention check reads the one attribute it needs
    (same rule: sent time + MessageRetentionPeriod). Re-check on a moto upgrade: the patched
    method is ``moto.sqs.models.SQSBackend.is_message_valid_based_on_retention_period``."""
    from moto.core.utils import unix_time
    from moto.sqs import models

    saved = models.SQSBackend.is_message_valid_based_on_retention_period

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > unix_time()

    models.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    try:
        yield
    finally:
        models.SQSBackend.is_message_valid_based_on_retention_period = saved  # type: ignore[method-assign]


@contextmanager
def keep_mail_text() -> Iterator[None]:
    """moto's SendEmail keeps one body: the HTML part when there is one, and drops the text
    part, so the local runtime could show no reviewer mail as its text. While active, the text
    part (``Message.Body.Text.Data``) is kept on the sent message as ``text`` (None when the
    mail had none), beside moto's ``body``. Re-check on a moto upgrade: the patched method is
    ``moto.ses.responses.EmailResponse.send_email``, which stores through
    ``SESBackend.send_email`` and answers the new message's id."""
    from moto.ses.responses import EmailResponse

    saved = EmailResponse.send_email

    def send_email(self: Any) -> Any:
        result = saved(self)
        text = self._get_param("Message.Body.Text.Data")
        message_id = result.result["MessageId"] if hasattr(result, "result") else None
        for message in reversed(self.backend.sent_messages):
            if message.id == message_id:
                message.text = text
                break
        return result

    EmailResponse.send_email = send_email  # type: ignore[method-assign]
    try:
        yield
    finally:
        EmailResponse.send_email = saved  # type: ignore[method-assign]
