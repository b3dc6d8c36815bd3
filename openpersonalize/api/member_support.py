"""The declared support of the request members this server does not simply honour, and its enforcement.

A member named nowhere here is honoured. A ``Refused`` member is answered InvalidInputException
naming it, by ``refuse_unsupported`` on every request before the operation runs; a ``NoEffect``
member is accepted (and described back where Personalize describes it) but changes nothing, for
the reason given. ``docs/api-coverage.md`` is generated from this table (``openpersonalize.coverage``),
so what the reference says is what the server does.

Members are named by their path in the request: ``solutionConfig.autoMLConfig``, and
``eventList[].impression`` for a member of every element of a list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputException


def _present(_value: Any) -> bool:
    return True


def _true(value: Any) -> bool:
    return value is True


@dataclass(frozen=True)
class Refused:
    """Answered InvalidInputException naming the member when ``when(value)`` holds (``condition`` says when)."""

    reason: str
    when: Callable[[Any], bool] = _present
    condition: str = ""

    def describe(self) -> str:
        return f"refused{' when ' + self.condition if self.condition else ''}: {self.reason}"


@dataclass(frozen=True)
class NoEffect:
    """Accepted without effect: not implemented, for ``reason``."""

    reason: str

    def describe(self) -> str:
        return f"not implemented (accepted, no effect): {self.reason}"


Support = Refused | NoEffect


def _equals(expected: str) -> Callable[[Any], bool]:
    return lambda value: value == expected


_NO_IAM = NoEffect("there is no IAM: jobs read and write with the server's own credentials")
_NO_KMS = NoEffect("the server does not call KMS; S3 objects get the bucket's default encryption")
_NO_CAPACITY = NoEffect("nothing is provisioned ahead: every node answers as fast as it can")
_AUTOML = Refused("AutoML is deprecated by Personalize; choose a recipeArn instead")
_THEMES = Refused("theme generation needs a generative model (Amazon Bedrock), which this server does not have")
_JOB_IO = {
    "roleArn": _NO_IAM,
    "jobInput.s3DataSource.kmsKeyArn": _NO_KMS,
    "jobOutput.s3DataDestination.kmsKeyArn": _NO_KMS,
}
_INCREMENTAL = NoEffect(
    "it concerns Personalize's semantic-similarity recipe; here live events reach every model's answers at "
    "request time anyway"
)
_CONTEXT = NoEffect("contextual metadata is no model feature here: recipes score from interactions and item metadata")
_IMPRESSIONS = NoEffect("stored and exported with the events, but no model reads impressions")
_METRICS_OUTPUT = {"metricsOutputConfig.roleArn": _NO_IAM, "metricsOutputConfig.s3DataDestination.kmsKeyArn": _NO_KMS}

MEMBERS: dict[str, dict[str, Support]] = {
    "CreateDatasetGroup": {
        "roleArn": _NO_IAM,
        "kmsKeyArn": NoEffect("described back, but the server's data at rest is not encrypted with it"),
    },
    "CreateDatasetImportJob": {"roleArn": _NO_IAM},
    "CreateDatasetExportJob": {"roleArn": _NO_IAM, "jobOutput.s3DataDestination.kmsKeyArn": _NO_KMS},
    "CreateDataDeletionJob": {"roleArn": _NO_IAM},
    "CreateSolution": {
        "performIncrementalUpdate": _INCREMENTAL,
        "performAutoML": Refused(_AUTOML.reason, _true, "true"),
        "solutionConfig.autoMLConfig": _AUTOML,
        "solutionConfig.hpoConfig.hpoObjective.metricRegex": NoEffect(
            "it reads a custom algorithm's logs; the objective is metricName, computed directly"
        ),
        "solutionConfig.hpoConfig.hpoResourceConfig.maxParallelTrainingJobs": NoEffect(
            "HPO trials run one after another inside the training job"
        ),
    },
    "CreateSolutionVersion": {
        "trainingMode": Refused(
            "AUTOTRAIN is the mode of versions that automatic training creates, not one a request asks for",
            _equals("AUTOTRAIN"),
            "AUTOTRAIN",
        ),
    },
    "UpdateSolution": {"performIncrementalUpdate": _INCREMENTAL},
    "CreateCampaign": {"minProvisionedTPS": _NO_CAPACITY},
    "UpdateCampaign": {"minProvisionedTPS": _NO_CAPACITY},
    "CreateRecommender": {"recommenderConfig.minRecommendationRequestsPerSecond": _NO_CAPACITY},
    "UpdateRecommender": {"recommenderConfig.minRecommendationRequestsPerSecond": _NO_CAPACITY},
    "CreateBatchInferenceJob": {
        **_JOB_IO,
        "batchInferenceJobMode": Refused(_THEMES.reason, _equals("THEME_GENERATION"), "THEME_GENERATION"),
        "themeGenerationConfig": _THEMES,
    },
    "CreateBatchSegmentJob": dict(_JOB_IO),
    "CreateMetricAttribution": dict(_METRICS_OUTPUT),
    "GetRecommendations": {"context": _CONTEXT},
    "GetPersonalizedRanking": {"context": _CONTEXT},
    "PutEvents": {"eventList[].impression": _IMPRESSIONS},
    "PutActionInteractions": {"actionInteractions[].impression": _IMPRESSIONS},
    "UpdateMetricAttribution": dict(_METRICS_OUTPUT),
}


def member_values(params: Any, path: str) -> Iterator[Any]:
    """The values a member path names in a request (every element's for ``[]`` steps); absent ones yield nothing."""
    head, _, rest = path.partition(".")
    listed = head.endswith("[]")
    name = head[:-2] if listed else head
    if not isinstance(params, dict) or params.get(name) is None:
        return
    values = params[name] if listed else [params[name]]
    for value in values if isinstance(values, list) else ():
        if rest:
            yield from member_values(value, rest)
        else:
            yield value


def refuse_unsupported(operation: str, params: dict[str, Any]) -> None:
    """InvalidInputException naming the first member of ``params`` the table refuses for ``operation``."""
    for path, support in MEMBERS.get(operation, {}).items():
        if isinstance(support, Refused) and any(support.when(v) for v in member_values(params, path)):
            named = f"{path} {support.condition}" if support.condition else path
            raise InvalidInputException(f"{named} is not supported: {support.reason}.")
