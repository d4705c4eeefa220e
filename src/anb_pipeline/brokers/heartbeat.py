"""Keeps received SQS messages invisible while a worker holds them.

Messages are received with a short visibility timeout. While a worker holds one, this
thread renews it every third of that timeout. A worker that dies stops renewing, so its
message is visible again within one timeout instead of the 12 hours dramatiq-sqs uses.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .limits import SQS_MAX_BATCH

#: The batch failure codes that mean the message is gone (deleted, purged, or its receipt
#: expired): renewing it again can never succeed.
GONE_CODES = frozenset({"ReceiptHandleIsInvalid", "MessageNotInflight"})


def change_visibility(client: Any, queue_url: str, receipt_handles: list[str], *,
                      timeout_s: int) -> list[dict[str, Any]]:
    """Set the visibility timeout of each message, ten per call.

    Returns the ``Failed`` entries of the responses, each with its ``ReceiptHandle`` added.
    Raises: what the boto3 client raises when a call fails as a whole.
    """
    failed: list[dict[str, Any]] = []
    for start in range(0, len(receipt_handles), SQS_MAX_BATCH):
        batch = receipt_handles[start : start + SQS_MAX_BATCH]
        response = client.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": timeout_s}
            for i, handle in enumerate(batch)
        ])
        failed += [{**failure, "ReceiptHandle": batch[int(failure["Id"])]}
                   for failure in response.get("Failed", [])]
    return failed


class VisibilityHeartbeat:
    """A daemon thread that renews the visibility timeout of the messages it tracks every
    ``visibility_timeout_s / 3`` seconds (``ChangeMessageVisibilityBatch``, 10 per call).
    """
    def __init__(self, *, client: Any, queue_url: str, visibility_timeout_s: int) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.client = client
        self.queue_url = queue_url
        self.visibility_timeout_s = visibility_timeout_s
        self.interval_s = visibility_timeout_s / 3
        self._handles: set[str] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="anb-sqs-heartbeat", daemon=True)
        self._thread.start()

    def track(self, receipt_handle: str) -> None:
        """Start renewing the message with this receipt handle."""
        with self._lock:
            self._handles.add(receipt_handle)

    def tracks(self, receipt_handle: str) -> bool:
        """Whether the message with this receipt handle is being renewed."""
        with self._lock:
            return receipt_handle in self._handles

    def forget(self, receipt_handle: str) -> None:
        """Stop renewing the message (it was settled); unknown handles are ignored."""
        with self._lock:
            self._handles.discard(receipt_handle)

    def stop(self) -> None:
        """Stop the thread after its current round."""
        self._stopped.set()

    def beat(self) -> None:
        """Renew every tracked message once; stop renewing the ones SQS says are gone."""
        with self._lock:
            handles = sorted(self._handles)
        try:
            failed = change_visibility(self.client, self.queue_url, handles,
                                       timeout_s=self.visibility_timeout_s)
        except (BotoCoreError, ClientError):
            # Missing one beat is harmless: the next comes well before the timeout.
            self.logger.warning("Visibility heartbeat failed; retrying.", exc_info=True)
            return
        for failure in failed:
            self.logger.warning("Could not extend a message's visibility: %s",
                                failure.get("Message", failure.get("Code")))
            if failure.get("Code") in GONE_CODES:
                self.forget(failure["ReceiptHandle"])

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            self.beat()
