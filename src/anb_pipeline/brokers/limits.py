"""Amazon SQS's fixed limits that the code relies on, in one place.

Source: the Amazon SQS API Reference (ReceiveMessage, ChangeMessageVisibilityBatch,
DeleteMessageBatch, SendMessageBatch) and the Developer Guide's "Amazon SQS message quotas".
"""

from __future__ import annotations

#: ReceiveMessage's ``MaxNumberOfMessages`` and every ``*Batch`` action take 1 to 10 entries.
SQS_MAX_BATCH = 10
