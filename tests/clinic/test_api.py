"""The JSON API of the clinician's twin (FastAPI's test client): a bundle in, the assessment out and audited; every
bad request refused with one sentence; the security headers on every response."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient  # the clinic extra, part of the test set-up

import vhtwin.clinic as clinic
from vhtwin.clinic.app import SECURITY_HEADERS, create_app
from vhtwin.clinic.assess import assess

BUNDLE = Path(__file__).resolve().parents[2] / "examples" / "clinic" / "vancomycin_bundle.json"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return TestClient(create_app(tmp_path_factory.mktemp("audit"), n_samples=100))


def post(client, body, model="vancomycin_goti2018", kind="application/fhir+json"):
    return client.post(f"/api/twin?model={model}", content=body, headers={"content-type": kind})


def test_a_bundle_in_the_assessment_out_and_audited(client):
    response = post(client, BUNDLE.read_bytes())
    assert response.status_code == 200, response.text
    for header, value in SECURITY_HEADERS.items():
        assert response.headers[header] == value
    doc = response.json()
    prior = clinic.prior("vancomycin_goti2018")
    expected = assess(clinic.read_bundle(BUNDLE, prior), prior, n_samples=100).to_dict()
    assert doc["assessment"] == json.loads(json.dumps(expected))
    trail = client.app.state.audit
    entries = trail.entries()
    assert [e["kind"] for e in entries[-2:]] == ["calibration", "recommendation"]
    assert [e["hash"] for e in entries[-2:]] == [doc["audit"]["calibration"], doc["audit"]["recommendation"]]
    assert entries[-1]["results"]["recommended"] == doc["assessment"]["recommended"]
    assert trail.verify() == []
    text = trail.path.read_text()
    for identifier in ("Doe-Testperson", "MRN-00424242", "1951-09-14", "Springfield"):
        assert identifier not in text


def test_the_library(client):
    names = [p["name"] for p in client.get("/api/priors").json()]
    assert names == clinic.priors()


@pytest.mark.parametrize("body, kwargs, message", [
    (b"{}", {"model": "aspirin"}, "not a prior of the library"),
    (b"", {}, "body is empty"),
    (b"{oops", {}, "not JSON"),
    (b'{"resourceType": "Patient"}', {}, "a FHIR Bundle is expected"),
    (BUNDLE.read_bytes(), {"kind": "text/html"}, "content type 'text/html'"),
    (b"{" + b" " * 5_000_001 + b"}", {}, "at most 5000000"),
])
def test_bad_requests_get_one_sentence(client, body, kwargs, message):
    response = post(client, body, **kwargs)
    assert response.status_code == 422
    assert message in response.json()["error"]
    assert response.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]


def test_a_bundle_with_a_bad_level_is_refused_naming_it(client):
    doc = json.loads(BUNDLE.read_text())
    next(e for e in doc["entry"] if e["resource"].get("id") == "obs-6")["resource"]["valueQuantity"].pop("value")
    response = post(client, json.dumps(doc).encode())
    assert response.status_code == 422
    assert "Observation 'obs-6': field valueQuantity.value is missing" in response.json()["error"]


def test_vhtwin_serve_answers_on_localhost(tmp_path):
    """The command itself: uvicorn on 127.0.0.1, a bundle posted over HTTP, the audit trail where asked."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    audit = tmp_path / "trail"
    server = subprocess.Popen([sys.executable, "-m", "vhtwin", "serve", "--port", str(port), "--audit-dir", str(audit)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/api/priors", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        request = urllib.request.Request(f"{url}/api/twin?model=vancomycin_goti2018", data=BUNDLE.read_bytes(),
                                         headers={"Content-Type": "application/fhir+json"}, method="POST")
        with urllib.request.urlopen(request, timeout=240) as response:
            doc = json.loads(response.read())
            assert response.headers["X-Frame-Options"] == "DENY"
        assert doc["assessment"]["recommended"]["probability"] >= doc["assessment"]["current"]["probability"]
        assert clinic.AuditTrail(audit).verify() == [] and len(clinic.AuditTrail(audit).entries()) == 2
    finally:
        server.terminate()
        server.wait(timeout=30)
    bad = subprocess.run([sys.executable, "-m", "vhtwin", "serve", "--port", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip() == "vhtwin: error: --port 0 must be between 1 and 65535"
