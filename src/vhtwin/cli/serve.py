"""``vhtwin serve``: the clinician's twin as a local web service (:mod:`vhtwin.clinic.app`)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "serve", help="serve the clinician's twin: a JSON API (POST /api/twin?model=NAME with a FHIR Bundle)",
        description=(
            "Serve the clinician's twin on this machine: POST a FHIR R4 Bundle to /api/twin?model=NAME (a prior of "
            "the library, GET /api/priors) and get the calibrated twin, its forecast with a 90 % band and the "
            "regimens ranked by their probability of target attainment. Every calibration and recommendation is "
            "appended to the audit trail. Needs the clinic extra (pip install 'vhtwin[clinic]')."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--audit-dir", default="vhtwin-audit", metavar="DIR",
                   help="where the audit trail is kept (default ./vhtwin-audit; continued if it exists)")
    p.add_argument("--warm", default="all", metavar="PRIORS",
                   help="priors whose programs are compiled when the server starts, in the background, so that the "
                        "first patient does not wait: 'all' (default), 'none', or names separated by commas")
    p.set_defaults(run=run)


def run(args) -> int:
    if not 0 < args.port < 65536:
        raise InputError(f"--port {args.port} must be between 1 and 65535")
    try:
        import uvicorn

        from ..clinic.app import create_app
    except ImportError as err:
        raise InputError(f"vhtwin serve needs the clinic extra ({err.name} is missing): "
                         "pip install 'vhtwin[clinic]'") from None
    from ..clinic import priors

    warm = {"all": priors(), "none": []}.get(args.warm, [w.strip() for w in args.warm.split(",") if w.strip()])
    unknown = [w for w in warm if w not in priors()]
    if unknown:
        raise InputError(f"--warm {args.warm!r}: {unknown} not in the prior library {priors()}; or 'all', 'none'")
    app = create_app(args.audit_dir, warm=warm)
    print(f"vhtwin: serving the clinician's twin on http://{args.host}:{args.port} (audit trail: "
          f"{app.state.audit.path}){'; compiling ' + ', '.join(warm) + ' in the background' if warm else ''}",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


@contextlib.contextmanager
def in_background(audit_dir, *, port: int | None = None, timeout: float = 120.0, env: dict | None = None,
                  warm: str = "none"):
    """Run ``vhtwin serve`` in a child process on a free local port until the block ends; yields its base URL.

    ``warm`` is passed to ``--warm`` (default ``none``: each prior compiles on first use). Returns once the server
    answers ``GET /api/priors`` (raises :class:`RuntimeError` with the server's output if it
    exits or does not answer within ``timeout`` seconds). For scripts and tests that drive the real server.
    """
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    log = tempfile.TemporaryFile()
    server = subprocess.Popen([sys.executable, "-m", "vhtwin", "serve", "--port", str(port), "--audit-dir",
                               str(audit_dir), "--warm", warm], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/priors", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"vhtwin serve did not answer on {url}: "
                                       f"{log.read().decode(errors='replace')[-2000:]}") from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
