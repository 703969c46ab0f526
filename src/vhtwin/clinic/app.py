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

The page (server-side rendered, :mod:`vhtwin.clinic.page`): ``GET /`` is the entry form, ``POST /assess`` (a
multipart form: a bundle file or typed levels and doses) answers with the report, ``/static/`` holds its stylesheet
and print button. Forms carry a CSRF token (an HMAC, under a per-process key, of a random cookie set with the form:
a page of another site can neither read the cookie nor forge the token); a form also needs a same-origin
``Origin`` when the browser sends one. Limits: :data:`MAX_BYTES` per upload, one file and :data:`MAX_FIELDS` fields
per form, and :data:`MAX_PER_MINUTE` assessments a minute from one client address (status 429 beyond).
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import secrets
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ..errors import InputError
from .assess import assess
from .audit import AuditTrail
from .fhir import MAX_BYTES, read_bundle
from .page import form_page, report_page, typed_record
from .priors import prior as load_prior, priors
from .record import make_record, warm_records

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
JSON_TYPES = ("application/json", "application/fhir+json")
#: Fields of one form read at most (the entry form has 12).
MAX_FIELDS = 16
#: Assessments one client address may ask for in a minute.
MAX_PER_MINUTE = 30
CSRF_COOKIE = "vhtwin_csrf"
STATIC = Path(__file__).with_name("static")
_STATIC_TYPES = {"clinic.css": "text/css; charset=utf-8", "print.js": "text/javascript; charset=utf-8"}


class TooMany(Exception):
    """A client asked for more assessments in a minute than :data:`MAX_PER_MINUTE`."""


class _Limiter:
    """At most ``per_minute`` calls a minute from one client address (a sliding window)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.calls: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.lock = threading.Lock()

    def check(self, client: str) -> None:
        now = time.monotonic()
        with self.lock:
            calls = self.calls[client]
            while calls and now - calls[0] > 60.0:
                calls.popleft()
            if len(calls) >= self.per_minute:
                raise TooMany(f"{len(calls)} assessments from this address in the last minute; at most "
                              f"{self.per_minute} are made: wait a minute")
            calls.append(now)


def create_app(audit_dir: str | Path = "vhtwin-audit", *, n_samples: int = 200, per_minute: int = MAX_PER_MINUTE,
               warm=()):
    """The FastAPI application; ``audit_dir`` holds the audit trail (created if missing, continued if present).

    ``warm``: priors whose programs are compiled at once, in a background thread, by assessing made-up patients
    (:func:`vhtwin.clinic.record.warm_records`; not audited), so that the first real patient does not
    wait for the compiler. ``GET /api/priors`` says which priors are ``ready`` (warmed or assessed once).
    """
    app = FastAPI(title="vhtwin: the clinician's twin", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    trail = AuditTrail(audit_dir)
    solving = threading.Lock()  # one assessment at a time: each uses every core
    limiter = _Limiter(per_minute)
    key = secrets.token_bytes(32)  # signs the forms' CSRF tokens; a restart invalidates open forms
    app.state.audit = trail
    app.state.ready = set()  # priors whose programs are compiled
    library = lambda: [load_prior(name).describe() | {"ready": name in app.state.ready} for name in priors()]
    names = [_prior(name).name for name in warm]  # an unknown name is refused here, before the server starts
    if names:
        app.state.warming = threading.Thread(target=_warm, args=(names, solving, app.state.ready, n_samples),
                                             name="vhtwin-warm", daemon=True)
        app.state.warming.start()

    def token(cookie: str) -> str:
        return hmac.new(key, cookie.encode(), hashlib.sha256).hexdigest()

    def form(request: Request, status: int = 200, error: str | None = None, values: dict | None = None):
        cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = HTMLResponse(form_page(library(), token(cookie), error=error, values=values), status_code=status)
        response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict", path="/")
        return response

    @app.middleware("http")
    async def security(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(InputError)
    async def refused(request: Request, err: InputError):
        return JSONResponse({"error": str(err)}, status_code=422)

    @app.exception_handler(TooMany)
    async def too_many(request: Request, err: TooMany):
        return JSONResponse({"error": str(err)}, status_code=429, headers={"Retry-After": "60"})

    @app.get("/api/priors")
    def prior_library():
        return library()

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
        limiter.check(_client(request))
        answer = run_twin(trail, solving, model, body, n_samples)
        app.state.ready.add(model)
        return answer

    @app.get("/", response_class=HTMLResponse)
    def entry(request: Request):
        return form(request)

    @app.get("/static/{name}")
    def static(name: str):
        if name not in _STATIC_TYPES:  # a fixed set of files: no path from the request reaches the disk
            return Response("not found", status_code=404, media_type="text/plain")
        return Response((STATIC / name).read_bytes(), media_type=_STATIC_TYPES[name])

    @app.post("/assess", response_class=HTMLResponse)
    async def assess_form(request: Request):
        size = request.headers.get("content-length")
        if size is None or not size.isdigit() or int(size) > MAX_BYTES + 65536:
            return form(request, 413 if size and size.isdigit() else 411,
                        f"upload: {size} bytes; at most {MAX_BYTES} are read (one bundle)")
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            return form(request, 403, f"origin {origin!r} is not this page's; the form is only taken from its own page")
        try:
            fields = await request.form(max_files=1, max_fields=MAX_FIELDS, max_part_size=MAX_BYTES)
        except Exception as err:  # starlette's multipart errors: too many files or fields, a part too large
            return form(request, 422, f"form: {getattr(err, 'detail', err)}")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = str(fields.get("csrf", ""))
        if not cookie or not hmac.compare_digest(sent, token(cookie)):
            return form(request, 403, "the form's security token is missing or stale (CSRF); reload the page and "
                                      "send the form again")
        values = {k: v for k, v in fields.items() if isinstance(v, str) and k != "csrf"}
        try:
            limiter.check(_client(request))
            model = values.get("model", "")
            pr = _prior(model)
            upload = fields.get("bundle")
            body = await upload.read() if upload is not None and not isinstance(upload, str) else b""
            typed = any((values.get(k) or "").strip() for k in ("levels", "doses"))
            if body and typed:
                raise InputError("record: a bundle was loaded and levels or doses typed; give one or the other")
            if body:
                if len(body) > MAX_BYTES:
                    raise InputError(f"upload: {len(body)} bytes; at most {MAX_BYTES} are read")
                record = read_bundle(body, pr)
            elif typed:
                record = make_record(pr, *typed_record(values))
            else:
                raise InputError("record: no bundle loaded and no levels or doses typed")
            doc, audit = assess_and_audit(trail, solving, pr, record, n_samples)
            app.state.ready.add(pr.name)
        except (InputError, TooMany) as err:
            return form(request, 429 if isinstance(err, TooMany) else 422, str(err), values)
        return HTMLResponse(report_page(doc, audit))

    return app


def _warm(names: list[str], solving: threading.Lock, ready: set, n_samples: int) -> None:
    for name in names:
        pr = load_prior(name)
        try:
            for record in warm_records(pr):
                with solving:
                    assess(record, pr, n_samples=n_samples)
        except Exception as err:  # a failed warm-up costs the first patient the compile, nothing else
            print(f"vhtwin serve: warming {name} failed ({type(err).__name__}: {err}); it compiles on first use",
                  file=sys.stderr, flush=True)
            continue
        ready.add(name)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _prior(model: str):
    if model not in priors():
        raise InputError(f"model {model!r} is not a prior of the library; choose one of {priors()}")
    return load_prior(model)


def run_twin(trail: AuditTrail, solving: threading.Lock, model: str, body: bytes, n_samples: int) -> dict:
    """Read, assess and audit one bundle (the work of ``POST /api/twin``)."""
    pr = _prior(model)
    if not body.strip():
        raise InputError("upload: the body is empty; send a FHIR Bundle")
    record = read_bundle(body, pr)
    doc, audit = assess_and_audit(trail, solving, pr, record, n_samples)
    return {"assessment": doc, "audit": audit}


def assess_and_audit(trail: AuditTrail, solving: threading.Lock, pr, record, n_samples: int) -> tuple[dict, dict]:
    """Assess one record and append the calibration and the recommendation to the audit trail; returns the
    assessment as plain data and the two entries' hashes."""
    with solving:
        a = assess(record, pr, n_samples=n_samples)
    doc = a.to_dict()
    inputs = {"data": record.data, "doses": record.doses, "covariates": record.covariates}
    calibration = trail.append("calibration", prior=doc["prior"], inputs=inputs,
                               results={"parameters": doc["parameters"], "converged": doc["converged"],
                                        "warnings": doc["warnings"]})
    recommendation = trail.append("recommendation", prior=doc["prior"], inputs=inputs,
                                  results={"current": doc["current"], "recommended": doc["recommended"]})
    return doc, {"calibration": calibration["hash"], "recommendation": recommendation["hash"]}
