"""Lambda's SQS event source mapping, locally: receive batches, invoke, delete or redeliver.

`resources.py` records each AWS::Lambda::EventSourceMapping of the template as an
`EventSourceMapping`; a `QueuePoller` per mapping runs on a thread. It receives up to a batch
of messages, builds the SQS event Lambda would (`sqs_event`), invokes the function, deletes
what succeeded and makes failed messages visible again after `FAILED_RETRY_DELAY` (the
queue's redrive policy then moves a message that keeps failing to its dead-letter queue).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Callable

SQS_POLL_IDLE = 0.05        # seconds between empty receives
FAILED_RETRY_DELAY = 1      # seconds before a failed message is visible again (AWS: the visibility timeout)


@dataclass
class EventSourceMapping:
    queue_url: str
    function_name: str
    batch_size: int
    report_failures: bool


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping hands the function for received messages."""
    return {"Records": [{
        "messageId": x["MessageId"], "receiptHandle": x["ReceiptHandle"], "body": x["Body"],
        "attributes": x.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": x.get("MD5OfBody", ""),
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region,
    } for x in messages]}


class QueuePoller:
    """One mapping's poller. `run` is a thread's target; it returns once `stop` is set.

    While `paused` is set (LocalStack.ingest_paused) nothing is received: messages wait in
    the queue, as with a disabled mapping. A function error fails the whole batch and is
    appended to `errors`; with ReportBatchItemFailures only the reported messages fail.
    """

    def __init__(self, mapping: EventSourceMapping, *, client: Callable[[str], Any], region: str,
                 stop: threading.Event, paused: threading.Event, errors: list[dict[str, Any]]) -> None:
        self.mapping, self.client, self.region = mapping, client, region
        self.stop, self.paused, self.errors = stop, paused, errors

    def run(self) -> None:
        m = self.mapping
        sqs, lam = self.client("sqs"), self.client("lambda")
        arn = sqs.get_queue_attributes(QueueUrl=m.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        while not self.stop.is_set():
            if self.paused.is_set():
                self.stop.wait(SQS_POLL_IDLE)
                continue
            try:
                got = sqs.receive_message(QueueUrl=m.queue_url, MaxNumberOfMessages=min(m.batch_size, 10),
                                          AttributeNames=["All"], MessageAttributeNames=["All"])
            except Exception:  # noqa: BLE001 - the mock is shutting down
                if self.stop.is_set():
                    return
                raise
            msgs = got.get("Messages", [])
            if not msgs:
                self.stop.wait(SQS_POLL_IDLE)
                continue
            event = sqs_event(msgs, arn, self.region)
            resp = lam.invoke(FunctionName=m.function_name, Payload=json.dumps(event).encode())
            payload = json.loads(resp["Payload"].read() or b"null")
            if resp.get("FunctionError"):
                failed = {x["MessageId"] for x in msgs}
                self.errors.append({"function": m.function_name, "error": payload})
            elif m.report_failures and isinstance(payload, dict):
                failed = {f["itemIdentifier"] for f in payload.get("batchItemFailures", [])}
            else:
                failed = set()
            for x in msgs:
                if x["MessageId"] in failed:
                    sqs.change_message_visibility(QueueUrl=m.queue_url, ReceiptHandle=x["ReceiptHandle"],
                                                  VisibilityTimeout=FAILED_RETRY_DELAY)
                else:
                    sqs.delete_message(QueueUrl=m.queue_url, ReceiptHandle=x["ReceiptHandle"])
