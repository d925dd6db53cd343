"""schemathesis, a third-party API fuzzer, against the generated OpenAPI document of a live Portico.

It derives requests from the schema (examples, boundary values, random data) and checks every answer: no 5xx,
every status code documented, every body matching its schema, every operation refusing requests without
credentials. A fixed seed keeps CI reproducible; PORTICO_FUZZ_SEED and PORTICO_FUZZ_EXAMPLES explore further.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.postgres

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "ignored_auth",
]
# Operations that act outside Portico's own database are not fuzzed: they would stop or restart other
# containers on this Docker engine (a random id prefix can match one), point Portico at random NPM or Docker
# URLs (the network rule), revoke the fuzzer's own token, or stream forever.
NOT_FUZZED = [
    "containers_api_start_container",
    "containers_api_stop_container",
    "containers_api_restart_container",
    "containers_api_follow_logs",
    "containers_api_follow_domain_logs",
    "containers_api_create_engine",
    "containers_api_delete_engine",
    "routes_api_npm_put_settings",
    "dashboard_tokens_api_revoke_token",
]


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(make_portico_server, tmp_path):
    server = make_portico_server()
    auth = {"Authorization": f"Bearer {server.token}"}
    schema = requests.get(f"{server.url}/api/v1/openapi.json", headers=auth, timeout=30).json()
    operation_ids = {op["operationId"] for ops in schema["paths"].values() for op in ops.values()}
    assert {"routes_api_crud_create_route", "routes_api_config_put_config", "dashboard_audit_api_list_audit"} <= (
        operation_ids
    )
    # Seed some state so that reads and writes of existing resources are exercised too.
    lab = {
        "domains": [
            {
                "name": "gctask.com",
                "routes": [
                    {"path": "/", "targets": [{"host": "myfront", "port": 80}]},
                    {"path": "/task/", "targets": [{"host": "mytaskapi", "port": 80}], "strip_prefix": True},
                ],
            }
        ]
    }
    assert requests.put(f"{server.url}/api/v1/config", json=lab, headers=auth, timeout=30).status_code == 200

    st = Path(sys.executable).with_name("st")
    excluded = [arg for op in NOT_FUZZED if op in operation_ids for arg in ("--exclude-operation-id", op)]
    command = [
        str(st), "run", f"{server.url}/api/v1/openapi.json",
        "--header", f"Authorization: Bearer {server.token}",
        "--checks", ",".join(CHECKS),
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", os.environ.get("PORTICO_FUZZ_EXAMPLES", "15"),
        "--seed", os.environ.get("PORTICO_FUZZ_SEED", "20261125"),
        "--workers", "4",
        "--request-timeout", "30",
        "--report", "junit", "--report-dir", str(tmp_path / "report"),
        *excluded,
    ]  # fmt: skip
    # cwd: schemathesis keeps a cache (.schemathesis/) in its working directory; not in the checkout.
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-12000:] + "\n--- server log ---\n" + server.log_tail()
    assert "Tested: " in output  # it really ran the operations
    tested = int(output.split("Tested: ")[1].split()[0])
    assert tested == len(operation_ids) - len(excluded) // 2
