"""An imported model against the same hand-written one: is the generated code as fast?

The reference cohort of :mod:`pk_cohort` (two-compartment oral PK, log-normal patients, 100 mg every 12 h x 14, Cc
hourly to 168 h, rtol 1e-6, atol 1e-9) is simulated with the library's ``pharmacokinetics/two_compartment_oral``
and with the same model written in SBML (:data:`SBML` below: depot, central and peripheral as amounts, the same
rate laws, Cc as an assignment rule) and imported with ``vh.import_sbml`` -- both with ``solver="tsit5"`` (the
library model would otherwise take the exact path for linear models, which an imported model does not claim), in
float64, alternately in one process, best of ``--repeats`` warm calls each. The record has both times, their ratio
(imported / native: the aim is at most 1.2) and the largest relative difference of Cc between the two.

Usage::

    python benchmarks/imported_vs_native.py --n 10000 --out benchmarks/results/imported-vs-native-cpu-2core.json
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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
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
    print(json.dumps({k: v for k, v in record.items() if k != "machine"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
