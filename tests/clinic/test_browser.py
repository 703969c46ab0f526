"""The clinician's page in a real browser: ``vhtwin serve`` in a child process (uvicorn on 127.0.0.1) and a headless
Chromium driven by Selenium load the page, upload a FHIR bundle, and read the recommended dose and the forecast band
off the report -- then the same numbers are computed in Python from ``vh.calibrate`` on the same record.

The browser is the OS package (``chromium`` and ``chromedriver`` on PATH; ``make test`` installs them with apt where
they are missing). ``VHTWIN_SCREENSHOT=PATH`` also saves the report's screenshot there (the README's image:
``VHTWIN_SCREENSHOT=docs/images/clinician-twin.png .venv/bin/python -m pytest tests/clinic/test_browser.py``).
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import struct
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import vhtwin as vh
import vhtwin.clinic as clinic
from vhtwin.cli.serve import in_background
from vhtwin.protocols import Regimen

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "examples" / "clinic" / "vancomycin_bundle.json"
DRAWS = 200  # vhtwin serve's posterior draws


def _executable(*names) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"none of {names} is on PATH: the browser test needs Chromium and its driver "
                       f"(Debian: apt-get install chromium chromium-driver; `make test` does it)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    audit = tmp_path_factory.mktemp("audit")
    with in_background(audit, env={"JAX_PLATFORMS": "cpu"}, warm="vancomycin_goti2018") as url:
        # --warm compiles the prior's programs at start, in the background: wait until it says it is ready
        for _ in range(1200):
            with urllib.request.urlopen(f"{url}/api/priors", timeout=10) as response:
                ready = {p["name"]: p["ready"] for p in json.loads(response.read())}
            if ready["vancomycin_goti2018"]:
                break
            time.sleep(0.5)
        assert ready == {"gentamicin_staatz2006": False, "theophylline_boeckmann1994": False,
                         "vancomycin_goti2018": True}
        yield url, audit


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _executable("chromium", "chromium-browser", "google-chrome")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(_executable("chromedriver")))
    driver.set_page_load_timeout(300)
    yield driver
    driver.quit()


def _upload(driver, url: str, bundle: Path, model: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver.get(url + "/")
    Select(driver.find_element(By.ID, "model")).select_by_value(model)
    driver.find_element(By.ID, "bundle").send_keys(str(bundle))
    driver.find_element(By.ID, "submit").click()
    WebDriverWait(driver, 300).until(lambda d: d.find_elements(By.ID, "recommendation") or d.find_elements(By.ID, "error"))


def _table(driver, ident: str) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, f"#{ident} tbody tr")
    return [[c.get_attribute("textContent").strip() for c in r.find_elements(By.TAG_NAME, "td")] for r in rows]


def test_a_bundle_uploaded_in_the_browser_gives_the_dose_and_band_of_vh_calibrate(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    url, audit = server
    _upload(browser, url, BUNDLE, "vancomycin_goti2018")
    assert not browser.find_elements(By.ID, "error")
    amount = float(browser.find_element(By.ID, "rec-amount").text)
    interval = float(browser.find_element(By.ID, "rec-interval").text)
    shown = float(browser.find_element(By.ID, "rec-probability").text.replace("%", "").strip()) / 100
    forecast = np.array([[float(x) for x in row] for row in _table(browser, "forecast")])  # time, map, 5, 50, 95 %
    estimates = {row[0]: float(row[2]) for row in _table(browser, "parameters")}

    # the same record, calibrated here
    prior = clinic.prior("vancomycin_goti2018")
    record = clinic.read_bundle(BUNDLE, prior)
    twin = vh.calibrate(prior.model, record.data, prior=prior.population, protocol=record.regimen,
                        covariates=record.covariates)
    for name, value in estimates.items():
        assert value == pytest.approx(float(twin.params[name]), rel=1e-3), name  # shown to 4 significant digits
    # the band: the current regimen (the record's 1 g every 12 h, 1-h infusions) continued to the forecast's end
    doses = record.doses
    tau, dose = float(np.median(np.diff(doses["time"]))), float(doses["amount"].iloc[-1])
    assert (tau, dose) == (12.0, 1000.0)
    t_next = doses["time"].max() + tau
    horizon = forecast[-1, 0]
    ahead = record.regimen + Regimen.repeated(dose, tau, math.ceil((horizon - t_next) / tau), "central",
                                              start=t_next, duration=1.0)
    band = twin.predict(forecast[:, 0], protocol=ahead, level=0.9, n_samples=DRAWS, seed=0)
    for col, name in [(1, "Cc_map"), (2, "Cc_lower"), (3, "Cc"), (4, "Cc_upper")]:
        np.testing.assert_allclose(forecast[:, col], band[name].values, rtol=2e-3, atol=1e-3, err_msg=name)
    assert np.all(forecast[:, 2] <= forecast[:, 4])
    # the dose: AUC over an interval at steady state is dose / CL for each posterior draw (a linear model), so the
    # probability that AUC24 is within 400-600 mg h/L follows from the draws of CL alone
    cl = np.asarray(twin.sample_posterior(DRAWS, seed=0)["CL"].values, dtype=float)
    pta = lambda a, tau: float(np.mean((a * 24.0 / tau / cl >= 400.0) & (a * 24.0 / tau / cl <= 600.0)))
    dosing = prior.spec.dosing
    best = max(pta(a, tau) for a in dosing.amounts for tau in dosing.intervals)
    assert amount in dosing.amounts and interval in dosing.intervals
    assert abs(shown - pta(amount, interval)) <= 0.02  # the page's trapezoids against the exact AUC
    assert pta(amount, interval) >= best - 0.02
    # audited: two entries whose hashes the report shows
    entries = clinic.AuditTrail(audit).entries()
    assert clinic.AuditTrail(audit).verify() == []
    assert browser.find_element(By.ID, "audit-recommendation").text == entries[-1]["hash"]

    # the report: readable figures, labelled controls, print stylesheet; the screenshot
    svg = browser.find_element(By.CSS_SELECTOR, "#fit-title ~ figure svg")
    assert svg.size["width"] >= 600  # the figure fills the column (text at >= 12 px without zoom)
    assert browser.find_element(By.ID, "print").is_displayed()  # print.js ran under the page's CSP
    browser.set_window_size(1280, browser.execute_script("return document.body.scrollHeight") + 40)
    shot = tmp_path / "report.png"
    browser.save_screenshot(str(shot))
    png = shot.read_bytes()
    width, height = struct.unpack(">II", png[16:24])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and width == 1280 and height > 1500
    if os.environ.get("VHTWIN_SCREENSHOT"):
        Path(os.environ["VHTWIN_SCREENSHOT"]).write_bytes(png)
    browser.set_window_size(1280, 1000)
    # printed: the report without the page's header, buttons and links; a PDF of a few A4 pages
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find_element(By.TAG_NAME, "header").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, ".actions").is_displayed()
    assert browser.find_element(By.ID, "recommendation").is_displayed()
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    from selenium.webdriver.common.print_page_options import PrintOptions

    options = PrintOptions()
    options.page_width, options.page_height = 21.0, 29.7  # A4, cm
    pdf = base64.b64decode(browser.print_page(options))
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pdf[:5] == b"%PDF-" and 2 <= pages <= 6, pages


def test_the_form_is_accessible_and_a_bad_upload_is_refused_in_one_sentence(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    url, _ = server
    browser.get(url + "/")
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
        ".filter(e => !document.querySelector(`label[for='${e.id}']`)).map(e => e.name)")
    assert unlabelled == []
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    bad = json.loads(BUNDLE.read_text())
    for entry in bad["entry"]:
        if entry["resource"]["resourceType"] == "Observation":
            entry["resource"]["valueQuantity"].pop("value", None)
            break
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    _upload(browser, url, path, "vancomycin_goti2018")
    error = browser.find_element(By.ID, "error")
    assert error.get_attribute("role") == "alert"
    assert "field valueQuantity.value is missing" in error.text and "Traceback" not in browser.page_source


def test_vhtwin_serve_answers_scripts_on_localhost(server):
    """The command itself: the JSON API over HTTP, the audit trail where asked, the port checked."""
    import subprocess
    import sys

    url, audit = server
    before = len(clinic.AuditTrail(audit).entries())
    request = urllib.request.Request(f"{url}/api/twin?model=vancomycin_goti2018", data=BUNDLE.read_bytes(),
                                     headers={"Content-Type": "application/fhir+json"}, method="POST")
    with urllib.request.urlopen(request, timeout=300) as response:
        doc = json.loads(response.read())
        assert response.headers["X-Frame-Options"] == "DENY"
    assert doc["assessment"]["recommended"]["probability"] >= doc["assessment"]["current"]["probability"]
    assert clinic.AuditTrail(audit).verify() == [] and len(clinic.AuditTrail(audit).entries()) == before + 2
    bad = subprocess.run([sys.executable, "-m", "vhtwin", "serve", "--port", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip() == "vhtwin: error: --port 0 must be between 1 and 65535"
    bad = subprocess.run([sys.executable, "-m", "vhtwin", "serve", "--warm", "vancomycin,nosuch"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("vhtwin: error: --warm 'vancomycin,nosuch': "
                                                         "['vancomycin', 'nosuch'] not in the prior library")
    assert "Traceback" not in bad.stderr
