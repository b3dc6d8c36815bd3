"""AWS-shaped errors: an exception type per Personalize error code.

Raised anywhere below the HTTP layer; the app turns them into the JSON error
shape botocore parses (``__type`` + ``message`` body, ``x-amzn-ErrorType`` header).
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base for every error that reaches the client as an AWS error."""

    code = "InternalFailure"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputException(ServiceError):
    code = "InvalidInputException"
    status = 400


class ResourceNotFoundException(ServiceError):
    code = "ResourceNotFoundException"
    status = 404


class ResourceAlreadyExistsException(ServiceError):
    code = "ResourceAlreadyExistsException"
    status = 409


class ResourceInUseException(ServiceError):
    code = "ResourceInUseException"
    status = 409


class LimitExceededException(ServiceError):
    code = "LimitExceededException"
    status = 400


class InvalidNextTokenException(ServiceError):
    code = "InvalidNextTokenException"
    status = 400


class TooManyTagsException(ServiceError):
    code = "TooManyTagsException"
    status = 400


class TooManyTagKeysException(ServiceError):
    code = "TooManyTagKeysException"
    status = 400


class UnknownOperationException(ServiceError):
    code = "UnknownOperationException"
    status = 400


class SerializationException(ServiceError):
    code = "SerializationException"
    status = 400


class RequestEntityTooLargeException(ServiceError):
    code = "RequestEntityTooLargeException"
    status = 413


class UnrecognizedClientException(ServiceError):
    code = "UnrecognizedClientException"
    status = 403


class ThrottlingException(ServiceError):
    """The server is busy; AWS SDKs retry this code (status 400, as AWS sends it) with backoff."""

    code = "ThrottlingException"
    status = 400


class ServiceUnavailable(ServiceError):
    """A store the server depends on cannot be reached right now (AWS's common 503; SDKs retry it with backoff).

    The one 5xx a healthy server sends on purpose: the request was fine, the outage is elsewhere.
    """

    code = "ServiceUnavailable"
    status = 503


class InvalidSignatureException(ServiceError):
    code = "InvalidSignatureException"
    status = 403


class MissingAuthenticationTokenException(ServiceError):
    code = "MissingAuthenticationTokenException"
    status = 403


class InternalFailure(ServiceError):
    code = "InternalFailure"
    status = 500
