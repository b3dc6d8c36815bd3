"""The control plane's lifecycle as users and attackers meet it, over boto3 (an outside probe's findings).

A forged nextToken nesting 1,120 brackets deep (1,496 characters, within the 1,500 the model allows)
answered a 500: the token's JSON was decoded with the recursive parser before its depth was checked.
"""

from __future__ import annotations

import base64

import pytest
from botocore.exceptions import ClientError

from helpers import error_code


def test_a_forged_next_token_nested_deep_is_invalid(personalize):
    token = base64.urlsafe_b64encode(b"[" * 1120).decode()
    assert len(token) <= 1500
    for call in (personalize.list_dataset_groups, personalize.list_schemas, personalize.list_recipes):
        with pytest.raises(ClientError) as err:
            call(nextToken=token)
        assert error_code(err) == "InvalidNextTokenException", call
