"""A declaration as an ILCD+EPD v1.3 process data set (XML), and its validation against the shipped schemas.

The data set follows the InData ILCD+EPD format (``schemas/EPD_DataSet.xsd``, the ILCD process data set with
the EPD extensions of 2013 and 2019): name and comments in English and Chinese, the reference year and
validity, the LCIA results of the declared indicators — one ``LCIAResult`` per indicator, referenced by
its EF 3.1 UUID from ``data/EN15804_A2_EF31_indicators.csv``, with one ``epd2013:amount`` per declared
module (``A1-A3``, and ``D`` under its scenario; ``A3`` alone for AP and EP from measured direct emissions,
whose A1–A3 total is not declared) and the indicator's unit group.  Amounts are numbers only:
an indicator not declared has no ``LCIAResult`` (never a zero), and the data set's comments list it with the
reason.  A module not declared (MND) has no amount.

Validation uses the pure-Python ``xmlschema`` package (lxml cannot compile these XSDs) with the schemas
shipped in ``schemas/`` (InData ILCD+EPD format, Apache-2.0; see ``schemas/README.md``).
"""

from __future__ import annotations

import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import rareeco
from rareeco.declare import epd as model
from rareeco.declare.epd_labels import EN, ZH

NS = {
    "": "http://lca.jrc.it/ILCD/Process",
    "common": "http://lca.jrc.it/ILCD/Common",
    "epd2013": "http://www.iai.kit.edu/EPD/2013",
    "epd2019": "http://www.indata.network/EPD/2019",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
EPD_FORMAT_VERSION = "1.3"
EN15804_SOURCE = ("c0016b33-8cf7-415c-ac6e-deba0d21440d", "00.01.000")   # source data set "EN 15804+A2" (InData)
ILCD_FORMAT_SOURCE = ("a97a0155-0234-4b87-b4ce-a45da52f2a40", "01.00.000")  # source data set "ILCD format"
REVIEW_TYPES = {"external": "Independent external review", "internal": "Independent internal review"}
D_SCENARIO = "EoL recovery"
_RAREECO = uuidlib.uuid5(uuidlib.NAMESPACE_URL, "https://rareeco.example/ilcd")


def _id(kind: str, key: str) -> str:
    """A stable UUID for a referenced data set rareeco does not ship (contacts, flows, sources)."""
    return str(uuidlib.uuid5(_RAREECO, f"{kind}:{key}"))


def _q(tag: str) -> str:
    prefix, _, local = tag.rpartition(":")
    return f"{{{NS[prefix]}}}{local}"


def _el(parent: ET.Element, tag: str, text: str | None = None, lang: str | None = None,
        **attrs: str) -> ET.Element:
    e = ET.SubElement(parent, _q(tag), {(_q(k.replace("__", ":")) if "__" in k else k): v for k, v in attrs.items()})
    if text is not None:
        e.text = text
    if lang:
        e.set(XML_LANG, lang)
    return e


def _both(parent: ET.Element, tag: str, en: str, zh: str) -> None:
    _el(parent, tag, en, "en")
    if zh:
        _el(parent, tag, zh, "zh")


def _ref(parent: ET.Element, tag: str, kind: str, ref_id: str, short: str, version: str | None = None,
         uri: str | None = None, lang: str | None = "en") -> ET.Element:
    attrs = {"type": kind, "refObjectId": ref_id}
    if version:
        attrs["version"] = version
    if uri:
        attrs["uri"] = uri
    r = _el(parent, tag, **attrs)
    _el(r, "common:shortDescription", short, lang)
    return r


def _num(v: float) -> str:
    return repr(float(v))


def _texts(content: Mapping[str, Any], L: Mapping[str, str]) -> dict[str, str]:
    """The comments of the data set in one language."""
    p, prog, d = content["product"], content["programme"], content["module_d"]
    nd = [r for r in content["results"] if r["status"] == "ND"]
    reasons = sorted({r["reason"] for r in nd})
    nd_text = " ".join(f"{L[reason]} ({', '.join(r['code'] for r in nd if r['reason'] == reason)})"
                       for reason in reasons)
    mnd = " ".join(L[m["code"]].format(**m["args"]) for m in content["mnd_reasons"])
    stop = "。" if L is ZH else ". "
    general = stop.join([
        f"{L['title']}{L['colon']}{L['subtitle']}",
        f"{L['pcr']}{L['colon']}{L['pcr_value'].format(**content['pcr'])}",
        f"{L['programme']}{L['colon']}{prog['name_zh'] if L is ZH else prog['name']}",
        f"{L['registration']}{L['colon']}{L['not_registered']}",
        f"{L['declared_unit']}{L['colon']}{p['declared_unit']}",
    ]) + stop + L["comparability_value"]
    measured = model.measured_texts(content, "zh" if L is ZH else "en")
    advice = " ".join([L["nd_legend"], L["nd_intro"], nd_text, *measured, mnd,
                       *( [L["d_assumption_rate"], L["d_assumption_content"], L["d_assumption_c"]] if d else [])])
    technology = L["product_description_value"].format(
        name=p["name_zh"] if L is ZH and p["name_zh"] else p["name"], line=p["line"], site=p["site_name"],
        province=p["province"], declarant=content["declarant"]["name"])
    return {"general": general, "advice": advice, "technology": technology}


def to_xml(content: Mapping[str, Any], meta: Mapping[str, Any]) -> bytes:
    """The ILCD+EPD v1.3 process data set of a declaration (UTF-8 XML bytes).

    ``meta`` is :func:`rareeco.declare.epd_service.meta` (status, verifier, dates); the review and the
    validity appear only once the version is verified, the publication date once it is published.
    """
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    en, zh = _texts(content, EN), _texts(content, ZH)
    p = content["product"]
    root = ET.Element(_q(":processDataSet"), {"version": "1.1", _q("epd2019:epd-version"): EPD_FORMAT_VERSION})
    root.set(_q("xsi:schemaLocation"), "http://lca.jrc.it/ILCD/Process EPD_DataSet.xsd")

    pi = _el(root, ":processInformation")
    dsi = _el(pi, ":dataSetInformation")
    _el(dsi, "common:UUID", content["uuid"])
    name = _el(dsi, ":name")
    _both(name, ":baseName", p["name"], p["name_zh"])
    _el(dsi, "common:generalComment", en["general"], "en")
    _el(dsi, "common:generalComment", zh["general"], "zh")
    other = _el(dsi, "common:other")
    if content["module_d"]:
        d = content["module_d"]["scenario"]
        scenarios = _el(other, "epd2013:scenarios")
        sc = _el(scenarios, "epd2013:scenario", epd2013__name=D_SCENARIO, epd2013__group="EoL",
                 epd2013__default="true")
        _el(sc, "epd2013:description", EN["d_scenario_value"].format(**d), "en")
        _el(sc, "epd2013:description", ZH["d_scenario_value"].format(**d), "zh")
    else:
        dsi.remove(other)
    qr = _el(pi, ":quantitativeReference", type="Reference flow(s)")
    _el(qr, ":referenceToReferenceFlow", "0")
    time = _el(pi, ":time")
    _el(time, "common:referenceYear", str(content["reference_year"]))
    if meta.get("valid_until"):
        _el(time, "common:dataSetValidUntil", str(meta["valid_until"])[:4])
    if meta.get("published_at"):
        t_other = _el(time, "common:other")
        _el(t_other, "epd2019:publicationDateOfEPD", str(meta["published_at"]))
    geo = _el(pi, ":geography")
    loc = _el(geo, ":locationOfOperationSupplyOrProduction", location="CN")
    sites = "; ".join(f"{s['name']} ({s['province']})" for s in content["declarant"]["sites"])
    _el(loc, ":descriptionOfRestrictions", sites, "en")
    tech = _el(pi, ":technology")
    _el(tech, ":technologyDescriptionAndIncludedProcesses", en["technology"], "en")
    _el(tech, ":technologyDescriptionAndIncludedProcesses", zh["technology"], "zh")

    mv = _el(root, ":modellingAndValidation")
    lci = _el(mv, ":LCIMethodAndAllocation")
    _el(lci, ":typeOfDataSet", "EPD")
    pcr = content["pcr"]
    _ref(lci, ":referenceToLCAMethodDetails", "source data set", _id("pcr", pcr["name"]),
         f"PCR {pcr['name']} ({pcr['operator']}, {pcr['date']})", "00.00.001")
    lci_other = _el(lci, "common:other")
    _el(lci_other, "epd2013:subType", "specific dataset")
    dstr = _el(mv, ":dataSourcesTreatmentAndRepresentativeness")
    for b in content["background"]:
        if b.get("factor"):
            _ref(dstr, ":referenceToDataSource", "source data set", _id("factor", b["factor"]), b["factor"][:500])
    _el(dstr, ":useAdviceForDataSet", en["advice"], "en")
    _el(dstr, ":useAdviceForDataSet", zh["advice"], "zh")
    if meta.get("verified_by"):
        val = _el(mv, ":validation")
        review = _el(val, ":review", type=REVIEW_TYPES[content["verification"]["kind"]])
        _ref(review, "common:referenceToNameOfReviewerAndInstitution", "contact data set",
             _id("contact", str(meta["verified_by"])), str(meta["verified_by"]))
    comp = _el(_el(mv, ":complianceDeclarations"), ":compliance")
    ref = _ref(comp, "common:referenceToComplianceSystem", "source data set", EN15804_SOURCE[0], "EN 15804+A2",
               EN15804_SOURCE[1])
    _el(ref, "common:shortDescription", "EN 15804+A2", "zh")

    ai = _el(root, ":administrativeInformation")
    cg = _el(ai, "common:commissionerAndGoal")
    decl = content["declarant"]
    _ref(cg, "common:referenceToCommissioner", "contact data set", _id("contact", decl["organisation"]),
         decl["name"])
    de = _el(ai, ":dataEntryBy")
    _el(de, "common:timeStamp", str(meta["created_at"]))
    _ref(de, "common:referenceToDataSetFormat", "source data set", ILCD_FORMAT_SOURCE[0], "ILCD format",
         ILCD_FORMAT_SOURCE[1])
    po = _el(ai, ":publicationAndOwnership")
    _el(po, "common:dataSetVersion", f"{int(content['version']):02d}.00.000")
    _ref(po, "common:referenceToOwnershipOfDataSet", "contact data set", _id("contact", decl["organisation"]),
         decl["name"])

    ex = _el(_el(root, ":exchanges"), ":exchange", dataSetInternalID="0")
    _ref(ex, ":referenceToFlowDataSet", "flow data set", _id("flow", f"{decl['organisation']}/{p['code']}"),
         p["name"], "00.00.001")
    _el(ex, ":exchangeDirection", "Output")
    _el(ex, ":meanAmount", _num(p["declared_unit_kg"]))
    _el(ex, ":generalComment", f"{p['declared_unit']} ({p['code']})", "en")

    results = _el(root, ":LCIAResults")
    for r in content["results"]:
        if r["status"] != "declared" or r["kind"] != "lcia":
            continue
        lr = _el(results, ":LCIAResult")
        _ref(lr, ":referenceToLCIAMethodDataSet", "LCIA method data set", r["uuid"], r["name"], r["version"],
             f"../lciamethods/{r['uuid']}")
        o = _el(lr, "common:other")
        # the A1–A3 total when declared, else the modules declared alone (AP, EP from measured A3 emissions);
        # a module not declared has no amount (never a zero)
        mods = [model.AGGREGATE] if model.AGGREGATE in r["values"] else [m for m in ("A1", "A2", "A3")
                                                                          if m in r["values"]]
        for m in mods:
            _el(o, "epd2013:amount", _num(r["values"][m]), epd2013__module=m)
        if "D" in r["values"]:
            _el(o, "epd2013:amount", _num(r["values"]["D"]), epd2013__module="D", epd2013__scenario=D_SCENARIO)
        _ref(o, "epd2013:referenceToUnitGroupDataSet", "unit group data set", r["unit_group_uuid"], r["unit"],
             uri=f"../unitgroups/{r['unit_group_uuid']}", lang=None)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    comment = f"<!-- generated by rareeco {rareeco.__version__}; status {meta.get('status')} -->\n"
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + comment + body + "\n").encode("utf-8")


@cache
def schema() -> Any:
    """The ILCD+EPD schema (``schemas/EPD_DataSet.xsd``), compiled once by ``xmlschema``."""
    import xmlschema

    path = resources.files("rareeco.declare").joinpath("schemas", "EPD_DataSet.xsd")
    return xmlschema.XMLSchema(str(path))


def validation_errors(xml: bytes | str, limit: int = 20) -> list[str]:
    """The schema errors of an ILCD+EPD document (empty: it validates against ``schemas/EPD_DataSet.xsd``)."""
    import xmlschema

    text = xml.decode("utf-8") if isinstance(xml, bytes) else xml
    out = []
    try:
        resource = xmlschema.XMLResource(text)
    except Exception as exc:  # not well-formed
        return [f"not well-formed XML: {exc}"]
    for err in schema().iter_errors(resource):
        out.append(f"{err.path}: {err.reason}")
        if len(out) >= limit:
            break
    return out
