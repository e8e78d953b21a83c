"""Schemathesis against the running server with the spec: no input may cause a 5xx.

Examples are bounded so this stays within a few seconds; CI raises the count with
VOICEBOT_SCHEMATHESIS_EXAMPLES.
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from voicebot.server.spec import seed_schemas

schema = schemathesis.openapi.from_dict(seed_schemas())
EXAMPLES = int(os.environ.get("VOICEBOT_SCHEMATHESIS_EXAMPLES", "60"))


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, server):
    case.call_and_validate(base_url=server.base_url, checks=[not_a_server_error], timeout=60)
