"""The clinician's twin as a local web service: a JSON API that scripts and the page use alike.

``vhtwin serve`` runs :func:`create_app` with uvicorn, bound to 127.0.0.1 unless told otherwise. (FastAPI and uvicorn
come with the ``clinic`` extra; nothing else imports this module.)

* ``GET /api/priors`` -- the prior library: each prior's name, version, sha256, sources, source population, targets.
* ``POST /api/twin?model=NAME`` -- body: a FHIR R4 Bundle (JSON, at most :data:`MAX_BYTES`). Returns the
  assessment (:func:`vhtwin.clinic.assess.assess`: fitted parameters against the population, the forecast with its
  90 % band, the regimens with their probability of target attainment, the recommended one, warnings) and the
  hashes of the two audit entries it appended (the calibration and the recommendation).

Every bad input gets status 422 and ``{"error": "<one sentence>"}``; the server never runs code from an upload
(bundles are parsed as JSON data, priors come from the library only). Responses carry a strict Content Security
Policy and no-sniff, no-referrer and no-framing headers.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..errors import InputError
from .assess import assess
from .audit import AuditTrail
from .fhir import MAX_BYTES, read_bundle
from .priors import prior as load_prior, priors

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
JSON_TYPES = ("application/json", "application/fhir+json")


def create_app(audit_dir: str | Path = "vhtwin-audit", *, n_samples: int = 200):
    """The FastAPI application; ``audit_dir`` holds the audit trail (created if missing, continued if present)."""
    app = FastAPI(title="vhtwin: the clinician's twin", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    trail = AuditTrail(audit_dir)
    solving = threading.Lock()  # one assessment at a time: each uses every core
    app.state.audit = trail

    @app.middleware("http")
    async def security(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(InputError)
    async def refused(request: Request, err: InputError):
        return JSONResponse({"error": str(err)}, status_code=422)

    @app.get("/api/priors")
    def library():
        return [load_prior(name).describe() for name in priors()]

    @app.post("/api/twin")
    async def twin(request: Request, model: str):
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BYTES):
            raise InputError(f"upload: {size} bytes; at most {MAX_BYTES} are read")
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind not in JSON_TYPES:
            raise InputError(f"upload: content type {kind!r}; send the FHIR Bundle as {' or '.join(JSON_TYPES)}")
        body = await request.body()
        if len(body) > MAX_BYTES:
            raise InputError(f"upload: {len(body)} bytes; at most {MAX_BYTES} are read")
        return run_twin(trail, solving, model, body, n_samples)

    return app


def run_twin(trail: AuditTrail, solving: threading.Lock, model: str, body: bytes, n_samples: int) -> dict:
    """Read, assess and audit one bundle (the work of ``POST /api/twin``)."""
    pr = load_prior(model) if model in priors() else None
    if pr is None:
        raise InputError(f"model {model!r} is not a prior of the library; choose one of {priors()}")
    if not body.strip():
        raise InputError("upload: the body is empty; send a FHIR Bundle")
    record = read_bundle(body, pr)
    with solving:
        a = assess(record, pr, n_samples=n_samples)
    doc = a.to_dict()
    inputs = {"data": record.data, "doses": record.doses, "covariates": record.covariates}
    calibration = trail.append("calibration", prior=doc["prior"], inputs=inputs,
                               results={"parameters": doc["parameters"], "converged": doc["converged"],
                                        "warnings": doc["warnings"]})
    recommendation = trail.append("recommendation", prior=doc["prior"], inputs=inputs,
                                  results={"current": doc["current"], "recommended": doc["recommended"]})
    return {"assessment": doc, "audit": {"calibration": calibration["hash"], "recommendation": recommendation["hash"]}}
