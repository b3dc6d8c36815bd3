"""The control plane's lifecycle as users and attackers meet it, over boto3 (an outside probe's findings).

A forged nextToken nesting 1,120 brackets deep (1,496 characters, within the 1,500 the model allows)
answered a 500: the token's JSON was decoded with the recursive parser before its depth was checked.
UpdateCampaign while the campaign's creation or latest update is still pending was refused as "in use by"
the campaign itself, telling the user to delete it first.
"""

from __future__ import annotations

import base64

import pytest
from botocore.exceptions import ClientError
from test_file_confinement import _train

from helpers import error_code
from server_harness import unique


def test_a_forged_next_token_nested_deep_is_invalid(personalize):
    token = base64.urlsafe_b64encode(b"[" * 1120).decode()
    assert len(token) <= 1500
    for call in (personalize.list_dataset_groups, personalize.list_schemas, personalize.list_recipes):
        with pytest.raises(ClientError) as err:
            call(nextToken=token)
        assert error_code(err) == "InvalidNextTokenException", call


def test_update_campaign_while_pending_says_what_is_pending(server, personalize):
    """Each update queues a deploy: within a few back-to-back updates one finds the previous one unfinished."""
    version = _train(server.work, personalize)["version"]
    campaign = personalize.create_campaign(name=unique("pending"), solutionVersionArn=version)["campaignArn"]
    refusal = None
    for tps in (2, 3, 2, 3, 2, 3, 2, 3):
        try:
            personalize.update_campaign(campaignArn=campaign, minProvisionedTPS=tps)
        except ClientError as exc:
            refusal = exc
            break
    assert refusal is not None, "no update found the previous deploy unfinished"
    assert refusal.response["Error"]["Code"] == "ResourceInUseException"
    message = refusal.response["Error"]["Message"]
    assert "PENDING" in message or "IN_PROGRESS" in message, message
    assert "Delete" not in message and "in use by" not in message, message
