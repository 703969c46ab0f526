"""An imported model against the same hand-written one: is the generated code as fast?

The reference cohort of :mod:`pk_cohort` (two-compartment oral PK, log-normal patients, 100 mg every 12 h x 14, Cc
hourly to 168 h, rtol 1e-6, atol 1e-9) is simulated with the library's ``pharmacokinetics/two_compartment_oral``
and with the same model written in SBML (:data:`SBML` below: depot, central and peripheral as amounts, the same
rate laws, Cc as an assignment rule) and imported with ``vh.import_sbml`` -- both with ``solver="tsit5"`` (the
library model would otherwise take the exact path for linear models, which an imported model does not claim), in
float64, alternately in one process, best of ``--repeats`` warm calls each. The record has both times, their ratio
(imported / native: the aim is at most 1.2) and the largest relative difference of Cc between the two.

The same for a cardiac cell model: O'Hara-Rudy 2011 endocardial, the Chaste collection's CellML file
(tests/data/cellml/chaste) imported with ``vh.import_cellml`` against the library's ``cardio/ohara_rudy2011``
(``celltype`` 0), ``--cells`` cells with log-normal GKr and PCa scale (the same draws for both), one 1 Hz beat
paced by ``vh.Pacing`` at the file's protocol, both from the file's initial state, rodas4, rtol 1e-6, atol 1e-8,
V every 1 ms: best of ``--repeats`` warm calls each, their ratio and the largest difference of V.

Usage::

    python benchmarks/imported_vs_native.py --n 10000 --cells 64 \
        --out benchmarks/results/imported-vs-native-cpu-2core.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

from _machine import machine_info  # noqa: E402  (benchmarks/_machine.py; the scripts run from this folder)
import pk_cohort as pk  # noqa: E402

SBML = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="two_compartment_oral_sbml" timeUnits="hour" substanceUnits="mg" extentUnits="mg">
    <listOfUnitDefinitions>
      <unitDefinition id="hour"><listOfUnits><unit kind="second" exponent="1" scale="0" multiplier="3600"/></listOfUnits></unitDefinition>
      <unitDefinition id="mg"><listOfUnits><unit kind="gram" exponent="1" scale="-3" multiplier="1"/></listOfUnits></unitDefinition>
    </listOfUnitDefinitions>
    <listOfCompartments><compartment id="body" spatialDimensions="3" size="1" units="litre" constant="true"/></listOfCompartments>
    <listOfSpecies>
      <species id="depot" compartment="body" initialAmount="0" hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/>
      <species id="central" compartment="body" initialAmount="0" hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/>
      <species id="peripheral" compartment="body" initialAmount="0" hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/>
    </listOfSpecies>
    <listOfParameters>
      <parameter id="ka" value="1" constant="true"/><parameter id="CL" value="5" constant="true"/>
      <parameter id="V1" value="50" constant="true"/><parameter id="Q" value="10" constant="true"/>
      <parameter id="V2" value="100" constant="true"/><parameter id="Cc" constant="false"/>
    </listOfParameters>
    <listOfRules>
      <assignmentRule variable="Cc"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><divide/><ci>central</ci><ci>V1</ci></apply></math></assignmentRule>
    </listOfRules>
    <listOfReactions>
      <reaction id="absorption" reversible="false">
        <listOfReactants><speciesReference species="depot" stoichiometry="1" constant="true"/></listOfReactants>
        <listOfProducts><speciesReference species="central" stoichiometry="1" constant="true"/></listOfProducts>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>ka</ci><ci>depot</ci></apply></math></kineticLaw>
      </reaction>
      <reaction id="elimination" reversible="false">
        <listOfReactants><speciesReference species="central" stoichiometry="1" constant="true"/></listOfReactants>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><apply><divide/><ci>CL</ci><ci>V1</ci></apply><ci>central</ci></apply></math></kineticLaw>
      </reaction>
      <reaction id="distribution" reversible="true">
        <listOfReactants><speciesReference species="central" stoichiometry="1" constant="true"/></listOfReactants>
        <listOfProducts><speciesReference species="peripheral" stoichiometry="1" constant="true"/></listOfProducts>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><minus/><apply><times/><apply><divide/><ci>Q</ci><ci>V1</ci></apply><ci>central</ci></apply><apply><times/><apply><divide/><ci>Q</ci><ci>V2</ci></apply><ci>peripheral</ci></apply></apply></math></kineticLaw>
      </reaction>
    </listOfReactions>
  </model>
</sbml>"""


ORD_CELLML = Path(__file__).resolve().parents[1] / "tests" / "data" / "cellml" / "chaste" / "ohara_rudy_2011_endo.cellml"


def ord_record(cells: int, repeats: int) -> dict:
    """Imported (CellML) against native ORd: one paced beat of ``cells`` cells, best warm times and their ratio."""
    imported = vh.import_cellml(ORD_CELLML)
    native = vh.load_model("cardio/ohara_rudy2011")
    rng = np.random.default_rng(2)
    scale = {"GKr": rng.lognormal(0.0, 0.2, cells), "PCa": rng.lognormal(0.0, 0.2, cells)}
    base_imported = imported.default_parameters()
    base_native = native.default_parameters()
    initial = {s.name: s.initial for s in imported.states}
    pacing = vh.Pacing(**imported.file_stimulus)
    times = np.arange(0.0, imported.file_stimulus["start"] + 1000.0, 1.0)
    kwargs = dict(times=times, protocol=pacing, solver="rodas4", rtol=1e-6, atol=1e-8, precision="float64",
                  outputs=["V"], max_steps=100_000)
    peers = {"native": (native, {"celltype": np.zeros(cells), "GKr": base_native["GKr"] * scale["GKr"],
                                 "PCa": base_native["PCa"] * scale["PCa"]}, initial),
             "imported": (imported, {"GKr_b": base_imported["GKr_b"] * scale["GKr"],
                                     "PCa_b": base_imported["PCa_b"] * scale["PCa"]}, None)}
    best, out = {name: np.inf for name in peers}, {}
    for name, (model, p, y0) in peers.items():  # compile
        out[name] = vh.simulate(model, p, initial=y0, **kwargs)["V"].values
    for _ in range(repeats):
        for name, (model, p, y0) in peers.items():
            start = time.perf_counter()
            out[name] = vh.simulate(model, p, initial=y0, **kwargs)["V"].values
            best[name] = min(best[name], time.perf_counter() - start)
    return {"model": "O'Hara-Rudy 2011 endo (Chaste CellML vs cardio/ohara_rudy2011)", "cells": cells,
            "solver": "rodas4", "native_s": best["native"], "imported_s": best["imported"],
            "imported_over_native": best["imported"] / best["native"], "aim": 1.2,
            "max_abs_difference_V_mV": float(np.max(np.abs(out["imported"] - out["native"])))}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cells", type=int, default=0, help="also ORd imported vs native with this many cells")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    native = vh.load_model(pk.MODEL)
    imported = vh.import_sbml(SBML)
    params = pk.cohort(args.n, seed=1)
    regimen = vh.Regimen.repeated(amount=pk.DOSE_MG, interval=pk.INTERVAL_H, count=pk.N_DOSES, into="depot")
    kwargs = dict(times=pk.TIMES, protocol=regimen, rtol=pk.RTOL, atol=pk.ATOL, precision="float64",
                  solver="tsit5", outputs=["Cc"])
    peers = {"native": (native, params), "imported": (imported, {k: params[k] for k in ("ka", "CL", "V1", "Q", "V2")})}
    best, out = {name: np.inf for name in peers}, {}
    for name, (model, p) in peers.items():  # compile
        out[name] = vh.simulate(model, p, **kwargs)["Cc"].values
    for _ in range(args.repeats):
        for name, (model, p) in peers.items():
            start = time.perf_counter()
            out[name] = vh.simulate(model, p, **kwargs)["Cc"].values
            best[name] = min(best[name], time.perf_counter() - start)
    scale = np.maximum(np.abs(out["native"]), 1e-6)
    record = {"benchmark": "imported_vs_native", "machine": machine_info(), "n": args.n, "solver": "tsit5",
              "precision": "float64", "native_s": best["native"], "imported_s": best["imported"],
              "imported_over_native": best["imported"] / best["native"], "aim": 1.2,
              "max_relative_difference_Cc": float(np.max(np.abs(out["imported"] - out["native"]) / scale))}
    if args.cells:
        record["cell_model"] = ord_record(args.cells, args.repeats)
    print(json.dumps({k: v for k, v in record.items() if k != "machine"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
