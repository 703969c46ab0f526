"""The clinician's twin over HTTP (FastAPI's test client): the JSON API -- a bundle in, the assessment out and
audited -- and the page's forms (a bundle uploaded or the record typed in, CSRF tokens, upload and rate limits); every
bad request refused with one sentence; the security headers on every response."""

from __future__ import annotations

import json
import re
from html import escape, unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient  # the clinic extra, part of the test set-up

import vhtwin.clinic as clinic
from vhtwin.errors import InputError
from vhtwin.clinic.app import MAX_FIELDS, SECURITY_HEADERS, create_app
from vhtwin.clinic.fhir import MAX_BYTES
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


# -- the page (server-side rendered forms) -------------------------------------------------------------------------------
def _token(client) -> str:
    page = client.get("/")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def _shown(html: str) -> dict:
    """What the report shows: the recommended dose and interval and the parameter estimates."""
    found = {k: float(re.search(rf'id="{k}">([^<]+)<', html).group(1)) for k in ("rec-amount", "rec-interval")}
    table = html[html.index('<table id="parameters">'):]
    table = table[:table.index("</table>")]
    for row in re.findall(r"<tr><td>(\w+)</td><td>[^<]*</td><td>([^<]+)</td>", table):
        found[row[0]] = float(row[1])
    return found


def _alert(html: str) -> str:
    return unescape(re.search(r'<div class="alert" role="alert" id="error"><h2>[^<]*</h2><p>(.*?)</p>', html,
                              re.S).group(1))


def test_the_form_sets_a_csrf_cookie_and_labels_every_field(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for header, value in SECURITY_HEADERS.items():
        assert page.headers[header] == value
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    ids = re.findall(r'<(?:input|select|textarea) (?:type="(?:file|checkbox)" )?id="(\w+)"', page.text)
    assert {"model", "bundle", "levels", "doses", "age", "sex", "weight", "creatinine", "dialysis"} <= set(ids)
    for ident in ids:
        assert f'for="{ident}"' in page.text, ident
    for name in clinic.priors():
        assert f'<option value="{name}"' in page.text
    assert "<script" not in page.text.replace('<script src="/static/print.js" defer></script>', "")
    assert client.get("/static/clinic.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/app.py").status_code == 404
    assert client.get("/static/..%2Fapp.py").status_code == 404


def test_a_bundle_through_the_form_is_the_api_assessment_and_typed_numbers_give_the_same(client):
    token = _token(client)
    api = post(client, BUNDLE.read_bytes()).json()["assessment"]
    before = len(client.app.state.audit.entries())
    page = client.post("/assess", data={"csrf": token, "model": "vancomycin_goti2018"},
                       files={"bundle": ("record.json", BUNDLE.read_bytes(), "application/fhir+json")})
    assert page.status_code == 200, _alert(page.text)
    shown = _shown(page.text)
    assert shown["rec-amount"] == api["recommended"]["amount_mg"]
    assert shown["rec-interval"] == api["recommended"]["interval_h"]
    for row in api["parameters"]:
        assert shown[row["parameter"]] == pytest.approx(row["estimate"], rel=1e-3)
    assert len(client.app.state.audit.entries()) == before + 2
    assert "<svg" in page.text and 'role="img"' in page.text and "<title" in page.text
    # the same record typed in: hours, levels, doses and facts (creatinine in umol/L, as the bundle has it)
    record = clinic.read_bundle(BUNDLE, clinic.prior("vancomycin_goti2018"))
    levels = "\n".join(f"{r.time + 100:g}, {r.value:.17g}" for r in record.data.itertuples())  # any origin
    doses = "\n".join(f"{r.time + 100:g}, {r.amount:g}, {r.duration:g}" for r in record.doses.itertuples())
    f = record.facts
    typed = client.post("/assess", data={"csrf": token, "model": "vancomycin_goti2018", "levels": levels,
                                         "doses": doses, "age": str(f["age"]), "sex": f["sex"],
                                         "weight": repr(f["weight"]), "height": repr(f["height"]),
                                         "creatinine": repr(f["creatinine"] * 88.42), "creatinine_unit": "umol/L"})
    assert typed.status_code == 200, _alert(typed.text)
    for key, value in _shown(typed.text).items():
        assert value == pytest.approx(shown[key], rel=2e-3), key


@pytest.mark.parametrize("fields, message", [
    ({"levels": "1, five", "doses": "0, 1000, 1"}, "levels: line 1: level 'five' is not a number"),
    ({"levels": "1, 20", "doses": "0"}, "doses: line 1 '0' has 1 value(s); 2 or 3 are expected"),
    ({"levels": "1, 20", "doses": "0, -5"}, "doses: row 1: amount -5 must be > 0 mg"),
    ({"levels": "1, <x", "doses": "0, 500"}, "levels: line 1: limit of quantification 'x' is not a number"),
    ({"levels": "", "doses": ""}, "record: no bundle loaded and no levels or doses typed"),
    ({"levels": "1, 20", "doses": "0, 1000, 1", "weight": "-70"}, "weight: '-70' must be a positive number"),
    ({"levels": "1, 20", "doses": "0, 1000, 1", "weight": "70", "age": "60", "sex": "robot"},
     "sex: 'robot' is not one of 'female', 'male' or empty"),
    ({"levels": "1, 20", "doses": "0, 1000, 1", "weight": "70"},
     "covariate 'CrCL' needs the patient's creatinine, which the record does not give"),
    ({"model": "../../etc/passwd", "levels": "1, 20", "doses": "0, 1"}, "model '../../etc/passwd' is not a prior"),
])
def test_bad_typed_entries_get_one_sentence_and_keep_what_was_typed(client, fields, message):
    before = len(client.app.state.audit.entries())
    data = {"csrf": _token(client), "model": "vancomycin_goti2018", **fields}
    page = client.post("/assess", data=data)
    assert page.status_code == 422
    assert message in _alert(page.text)
    if fields.get("levels"):
        assert escape(fields["levels"]) in page.text
    assert len(client.app.state.audit.entries()) == before


def test_forms_without_the_token_or_from_another_site_are_refused_before_any_work(client):
    token = _token(client)
    typed = {"model": "vancomycin_goti2018", "levels": "1, 20", "doses": "0, 1000, 1"}
    before = len(client.app.state.audit.entries())
    missing = client.post("/assess", data=typed)
    assert missing.status_code == 403 and "security token" in _alert(missing.text)
    forged = client.post("/assess", data={**typed, "csrf": token[:-1] + ("0" if token[-1] != "0" else "1")})
    assert forged.status_code == 403
    stranger = TestClient(client.app)  # another browser: its own cookie, our token
    _token(stranger)
    assert stranger.post("/assess", data={**typed, "csrf": token}).status_code == 403
    elsewhere = client.post("/assess", data={**typed, "csrf": token}, headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403 and "origin" in _alert(elsewhere.text)
    assert len(client.app.state.audit.entries()) == before


def test_upload_count_size_and_rate_limits(tmp_path):
    app = TestClient(create_app(tmp_path / "audit", per_minute=3))
    token = _token(app)
    small = b'{"resourceType": "Bundle", "type": "collection"}'
    two = app.post("/assess", data={"csrf": token, "model": "vancomycin_goti2018"},
                   files=[("bundle", ("a.json", small, "application/json")),
                          ("bundle", ("b.json", small, "application/json"))])
    assert two.status_code == 422 and "Too many files" in _alert(two.text)
    many = app.post("/assess", data={"csrf": token, **{f"x{k}": "1" for k in range(MAX_FIELDS + 1)}})
    assert many.status_code == 422 and "Too many fields" in _alert(many.text)
    big = app.post("/assess", content=b"x" * 16, headers={"content-length": str(MAX_BYTES + 10**6),
                                                            "content-type": "multipart/form-data; boundary=b"})
    assert big.status_code == 413
    bad = {"csrf": token, "model": "vancomycin_goti2018", "levels": "1, x", "doses": "0, 1"}
    assert [app.post("/assess", data=bad).status_code for _ in range(3)] == [422, 422, 422]
    refused = app.post("/assess", data=bad)
    assert refused.status_code == 429 and "at most 3 are made" in _alert(refused.text)
    api = post(app, small)
    assert api.status_code == 429 and api.headers["retry-after"] == "60" and "wait a minute" in api.json()["error"]


def test_a_warmed_prior_compiles_nothing_for_its_first_patient(tmp_path):
    """``warm``: the prior's programs are compiled at start (a made-up typical patient, not audited), so the first
    real patient's assessment compiles nothing."""
    import vhtwin as vh

    app = create_app(tmp_path / "audit", n_samples=100, warm=["theophylline_boeckmann1994"])
    app.state.warming.join(timeout=600)
    web = TestClient(app)
    ready = {p["name"]: p["ready"] for p in web.get("/api/priors").json()}
    assert ready == {"gentamicin_staatz2006": False, "theophylline_boeckmann1994": True, "vancomycin_goti2018": False}
    assert app.state.audit.entries() == []
    before = vh.compilation_count()
    response = post(web, (BUNDLE.parent / "theophylline_request_bundle.json").read_bytes(),
                    model="theophylline_boeckmann1994")
    assert response.status_code == 200, response.text
    assert vh.compilation_count() == before
    assert len(app.state.audit.entries()) == 2
    with pytest.raises(InputError, match="'nosuch' is not a prior of the library"):
        create_app(tmp_path / "audit", warm=["nosuch"])
