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

#: ChangeMessageVisibilityBatch takes at most ten entries.
BATCH_SIZE = 10


class VisibilityHeartbeat:
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
        with self._lock:
            self._handles.add(receipt_handle)

    def forget(self, receipt_handle: str) -> None:
        with self._lock:
            self._handles.discard(receipt_handle)

    def stop(self) -> None:
        self._stopped.set()

    def beat(self) -> None:
        """Renew every tracked message once."""
        with self._lock:
            handles = sorted(self._handles)
        for start in range(0, len(handles), BATCH_SIZE):
            entries = [
                {"Id": str(i), "ReceiptHandle": handle,
                 "VisibilityTimeout": self.visibility_timeout_s}
                for i, handle in enumerate(handles[start : start + BATCH_SIZE])
            ]
            try:
                response = self.client.change_message_visibility_batch(
                    QueueUrl=self.queue_url, Entries=entries
                )
            except (BotoCoreError, ClientError):
                # Missing one beat is harmless: the next comes well before the timeout.
                self.logger.warning("Visibility heartbeat failed; retrying.", exc_info=True)
                continue
            for failure in response.get("Failed", []):
                self.logger.warning("Could not extend a message's visibility: %s",
                                    failure.get("Message", failure))

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            self.beat()
