"""What an S3 call's failure may tell a job's caller: S3's own answer, never where the server reached it.

botocore's connection errors name the endpoint URL the server talks to (an internal address, a
proxy); a job's failureReason is read by whoever may describe the job, so it shows the user's
s3:// location (the caller's part of the message) and S3's error code and message only.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

_ADDRESSES = ("endpoint_url", "proxy_url")  # what botocore's connection errors are formatted with


def s3_failure(exc: BotoCoreError | ClientError) -> str:
    """``exc`` as a failure reason: S3's code and message, or the kind of connection failure without its address."""
    if isinstance(exc, BotoCoreError) and any(key in exc.kwargs for key in _ADDRESSES):
        return f"the S3 endpoint could not be reached ({type(exc).__name__})"
    return str(exc)
