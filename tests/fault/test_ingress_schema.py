"""The HTTP ingress fuzzed against its own OpenAPI schema with schemathesis: no 5xx, ever.

Each body schemathesis generates from the schema is sent twice: with the signature header it
generated (random — the ingress must answer 401, not crash), and signed with the real secret, so
the generated bodies get past the signature and exercise validation and intake; every answer must
be one the schema documents, never a server error. (Hypothesis drives schemathesis's strategy
directly: its pytest loader does not run on this pytest.) The ingress runs in-process (FastAPI's test
client) on a fresh SQLite ledger of the sample organisation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from config.settings import Settings
from ledger.intake.inputs import validate_load_file
from ledger.intake.signature import SIGNATURE_HEADER, sign
from ledger.services.receipts import load_file
from tests.support import figures
from tests.support.databases import fresh_sqlite
from tests.support.paths import SAMPLE
from workers.ingress import create_app

SECRET = "whsec-schemathesis"
DOCUMENTED = {200, 202, 400, 401, 409, 413, 422, 503}
EXAMPLES = figures.scaled(60, 600)


@pytest.fixture
def ingress(sqlite_template: Path, tmp_path: Path):
    config = Settings(
        database_url=fresh_sqlite(sqlite_template, tmp_path),
        broker_url=None,
        gl_sink=str(tmp_path / "gl.jsonl"),
        webhook_secret=SECRET,
    )
    load_file(config, validate_load_file(SAMPLE.read_bytes()))
    return create_app(config)


# The schema is the app's own; it does not depend on the database, so it is read once here.
SCHEMA = schemathesis.openapi.from_dict(
    create_app(Settings(webhook_secret=SECRET, database_url="sqlite:///:memory:")).openapi()
)
WEBHOOK = SCHEMA["/v1/gateway/events"]["POST"]


@given(case=WEBHOOK.as_strategy())
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_ingress_never_answers_5xx_to_anything_its_schema_allows(case, ingress):
    client = TestClient(ingress)
    raw = json.dumps(case.body).encode()
    as_generated = client.post(
        case.formatted_path,
        content=raw,
        headers={**(case.headers or {}), "content-type": "application/json"},
    )
    signed = client.post(
        case.formatted_path,
        content=raw,
        headers={SIGNATURE_HEADER: sign(SECRET, raw), "content-type": "application/json"},
    )
    figures.record(hostile_inputs=2)
    for response in (as_generated, signed):
        assert response.status_code < 500, response.text
        assert response.status_code in DOCUMENTED, (response.status_code, response.text)
