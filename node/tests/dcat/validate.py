#!/usr/bin/env python3
"""Validate a DCAT-AP 3 JSON-LD catalogue against the official DCAT-AP 3.0.0 SHACL shapes.

    python3 validate.py [-q] [--shacl-only] DOC.jsonld [DOC.jsonld ...]
    python3 validate.py --self-test

Exit status: 0 if every document conforms, 1 if any does not (or cannot be read as
JSON-LD), 2 on a usage error or missing shapes. `--self-test` validates example.jsonld
(must conform) and example-invalid.jsonld (must fail, for the expected reasons).

Network: none. The document's @context must be embedded (a remote context is refused
before parsing, so rdflib never fetches one) and the shapes are the copies in shapes/
(see shapes/README.md). No owl:imports are followed.

Shapes used, each validated as its own shapes graph (several files reuse the same shape
IRIs, e.g. `<http://data.europa.eu/r5r#Distribution_ShapeCV>`, so merging them into one
graph would splice unrelated shapes together):

  dcat-ap-SHACL.ttl            releases/3.0.0/shacl/ -- the release's "SHACL template",
                               one uniquely identified constraint per property: the
                               cardinalities, node kinds, datatypes and class ranges.
                               No sh:severity, so every result is a sh:Violation.
  shapes.ttl, range.ttl        releases/3.0.0/html/shacl/ -- the same constraints in the
                               DCAT-AP 2.x layout (existence/cardinality/literal ranges,
                               and class ranges). Adds the date checks the first file
                               lacks (dct:issued/dct:modified of Catalogue, Distribution,
                               Catalogue Record and Dataset Series must be xsd:date,
                               xsd:dateTime, xsd:gYear or xsd:gYearMonth).
  mdr-vocabularies.shape.ttl   controlled vocabularies: Violation when dct:format,
                               dct:language, dct:accrualPeriodicity, dct:accessRights,
                               adms:status, dcatap:availability or a licence's dct:type
                               is not a concept `skos:inScheme` the EU (or ADMS) list;
                               Warning for publisher, spatial, theme, dataset type,
                               IANA media types.
  shapes_recommended.ttl       recommended properties; every shape is sh:Warning.
  deprecateduris.ttl           DCAT-AP 2 -> 3 renames; sh:Warning only.

Severity: a result fails the document only if its sh:resultSeverity is sh:Violation.
sh:Warning and sh:Info results are printed (unless -q) and never fail. The official
files use exactly two severities: Violation (explicit, or by default in
dcat-ap-SHACL.ttl) for the mandatory/range/cardinality rules and the EU-vocabulary rules
DCAT-AP states as "must", Warning for recommendations and "should" rules.

One known upstream defect is ignored: shapes.ttl types dcat:byteSize as xsd:decimal,
contradicting DCAT-AP 3.0.0 itself (CHANGELOG: byte size aligned with W3C to
xsd:nonNegativeInteger, issues 214/246) and dcat-ap-SHACL.ttl, which requires
xsd:nonNegativeInteger. No literal can satisfy both; DCAT-AP 3.0.1 fixed shapes.ttl
(SEMICeu/DCAT-AP issue 399). That one result is reported as "ignored", not as a failure.

Inference: none, and no ontology graph. The release's imports.ttl / mdr_imports.ttl name
the vocabularies (DCAT, DCT, FOAF, vCard, ...) and EU code lists that the Interoperable
Europe testbed loads as "background knowledge"; they are online-only and we do not load
them. Without them an RDFS reasoner would add nothing useful, and validating with no
inference is the strict reading a harvester without reasoning applies: every sh:class
check is satisfied only by an explicit rdf:type of exactly that class in the document
(a foaf:Organization that is not also typed foaf:Agent fails; likewise vcard:Organization
for vcard:Kind, dct:MediaType for dct:MediaTypeOrExtent). That is what lgmesh wants
anyway: every linked node typed in the same document. It also means the values of
dcat:accessURL, dcat:downloadURL, dcat:endpointURL and dcat:endpointDescription must be
typed rdfs:Resource, because dcat-ap-SHACL.ttl 3.0.0 gives them `sh:class rdfs:Resource`
(removed in 3.0.1).

Besides SHACL, unless --shacl-only, the lgmesh rules from the export issue are checked
and fail like violations: the @context is embedded; every IRI is absolute (no relative
or file: IRIs); exactly one dcat:Catalog, listing every dcat:Dataset (dcat:dataset) and
dcat:DataService (dcat:service) in the document; every node that is linked to, or
described, has an rdf:type in the document (except plain-value links such as
vcard:hasEmail). The one-catalogue rule also catches a document whose prefixes are wrong:
SHACL shapes that target nothing would otherwise pass it.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES_DIR = os.path.join(HERE, "shapes")
SHAPE_FILES = [
    "dcat-ap-SHACL.ttl",
    "shapes.ttl",
    "range.ttl",
    "mdr-vocabularies.shape.ttl",
    "shapes_recommended.ttl",
    "deprecateduris.ttl",
]

# A relative IRI in the document would resolve against this base; any IRI that starts
# with it was relative in the source.
RELATIVE_BASE = "http://relative-iri.invalid/"
ABSOLUTE_SCHEMES = ("http:", "https:", "mailto:", "tel:", "urn:", "did:")

SH = "http://www.w3.org/ns/shacl#"
XSD = "http://www.w3.org/2001/XMLSchema#"
DCAT = "http://www.w3.org/ns/dcat#"
VCARD = "http://www.w3.org/2006/vcard/ns#"
FOAF = "http://xmlns.com/foaf/0.1/"

# Links whose objects are values (an email address, a phone number), not nodes, so they
# need no rdf:type.
VALUE_PREDICATES = {
    VCARD + "hasEmail",
    VCARD + "hasTelephone",
    VCARD + "hasURL",
    VCARD + "hasAddress",
    FOAF + "mbox",
}

# The self-test's expectations for example-invalid.jsonld: (shapes file, path, component)
# that must each be reported as a violation.
EXPECTED_INVALID = [
    ("dcat-ap-SHACL.ttl", "http://purl.org/dc/terms/description", SH + "MinCountConstraintComponent"),
    ("dcat-ap-SHACL.ttl", "http://purl.org/dc/terms/publisher", SH + "ClassConstraintComponent"),
    ("dcat-ap-SHACL.ttl", DCAT + "accessURL", SH + "MinCountConstraintComponent"),
    ("shapes.ttl", "http://purl.org/dc/terms/issued", SH + "NodeConstraintComponent"),
]


class Finding:
    def __init__(self, source, severity, focus, path, component, value, message):
        self.source = source
        self.severity = severity  # "Violation", "Warning", "Info"
        self.focus = focus
        self.path = path
        self.component = component
        self.value = value
        self.message = message

    def line(self):
        parts = [f"[{self.source}]", self.severity.upper()]
        if self.focus:
            parts.append(f"focus=<{self.focus}>")
        if self.path:
            parts.append(f"path=<{self.path}>")
        if self.component:
            parts.append(self.component.replace(SH, "sh:"))
        if self.value is not None:
            parts.append(f"value={self.value}")
        if self.message:
            parts.append(f"-- {self.message}")
        return " ".join(parts)


def known_upstream_defect(source, path, component, value_node):
    from rdflib import Literal

    return (
        source == "shapes.ttl"
        and path == DCAT + "byteSize"
        and component == SH + "DatatypeConstraintComponent"
        and isinstance(value_node, Literal)
        and str(value_node.datatype) == XSD + "nonNegativeInteger"
    )


def check_embedded_context(doc):
    """Return the problems with @context: it must be embedded, never a URL or @import."""
    problems = []

    def walk(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "@context":
                    ctxs = v if isinstance(v, list) else [v]
                    for c in ctxs:
                        if isinstance(c, str):
                            problems.append(f"{where}: remote @context {c!r}; embed it")
                        elif isinstance(c, dict) and "@import" in c:
                            problems.append(f"{where}: @import in @context; embed it")
                walk(v, where + "/" + k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(doc, "")
    if isinstance(doc, dict) and "@context" not in doc:
        problems.append("no top-level @context")
    return problems


def lgmesh_lints(g):
    from rdflib import RDF, BNode, Namespace, URIRef

    findings = []
    for term in set(g.subjects()) | set(g.objects()) | set(g.predicates()):
        if isinstance(term, URIRef):
            s = str(term)
            if s.startswith(RELATIVE_BASE):
                findings.append(Finding("lgmesh", "Violation", None, None, None, None,
                                        f"relative IRI {s[len(RELATIVE_BASE):]!r}: use absolute IRIs"))
            elif not s.startswith(ABSOLUTE_SCHEMES):
                findings.append(Finding("lgmesh", "Violation", None, None, None, None,
                                        f"IRI <{s}> has an unexpected scheme (file:, or a bad prefix?)"))
    # One catalogue that lists every dataset and service. This also stops a document
    # whose prefixes are wrong (so that no SHACL shape targets anything) from passing.
    dcat = Namespace(DCAT)
    catalogs = sorted(set(g.subjects(RDF.type, dcat.Catalog)), key=str)
    if len(catalogs) != 1:
        findings.append(Finding("lgmesh", "Violation", None, None, None, None,
                                f"expected exactly one dcat:Catalog, found {len(catalogs)}"))
    for cls, link in ((dcat.Dataset, dcat.dataset), (dcat.DataService, dcat.service)):
        for n in sorted(set(g.subjects(RDF.type, cls)), key=str):
            if not any((c, link, n) in g for c in catalogs):
                findings.append(Finding("lgmesh", "Violation", str(n), None, None, None,
                                        f"not listed by the catalogue's {g.qname(link)}"))
    typed = set(g.subjects(RDF.type, None))
    nodes = set()
    for s, p, o in g:
        nodes.add(s)
        if p != RDF.type and str(p) not in VALUE_PREDICATES and isinstance(o, (URIRef, BNode)):
            nodes.add(o)
    for n in sorted(nodes - typed, key=str):
        refs = sorted({str(p) for p in g.predicates(None, n)})
        findings.append(Finding("lgmesh", "Violation", str(n), None, None, None,
                                "node has no rdf:type in the document"
                                + (f" (linked by {', '.join(refs)})" if refs else "")))
    return findings


def load_shapes():
    from rdflib import Graph

    graphs = []
    for name in SHAPE_FILES:
        path = os.path.join(SHAPES_DIR, name)
        if not os.path.exists(path):
            print(f"missing shapes file {path}", file=sys.stderr)
            sys.exit(2)
        graphs.append((name, Graph().parse(path, format="turtle")))
    return graphs


def shacl_findings(data, shapes):
    from pyshacl import validate
    from rdflib import RDF, Literal, Namespace

    sh = Namespace(SH)
    findings, ignored = [], []
    for name, sg in shapes:
        # inference="none": see the module docstring. inplace=True skips a copy of the
        # data graph, safe because nothing is inferred into it.
        _conforms, results, _text = validate(
            data,
            shacl_graph=sg,
            ont_graph=None,
            inference="none",
            inplace=True,
            abort_on_first=False,
            allow_infos=True,
            allow_warnings=True,
            meta_shacl=False,
            advanced=False,
            do_owl_imports=False,  # deprecateduris.ttl has an owl:imports: never fetch
        )
        # Only the report's own sh:result entries: the sh:ValidationResult nodes hung
        # under sh:detail (why a sh:node / sh:or failed) carry the nested shape's
        # default severity, Violation, even when the reported result is a Warning.
        report = results.value(None, RDF.type, sh.ValidationReport)
        for r in results.objects(report, sh.result):
            sev = str(results.value(r, sh.resultSeverity) or SH + "Violation")
            sev = sev.replace(SH, "")
            path = results.value(r, sh.resultPath)
            comp = results.value(r, sh.sourceConstraintComponent)
            value = results.value(r, sh.value)
            focus = results.value(r, sh.focusNode)
            msgs = [str(m) for m in results.objects(r, sh.resultMessage)]
            shape = results.value(r, sh.sourceShape)
            # The shapes' own descriptions say more than pyshacl's generic message.
            desc = sg.value(shape, sh.description) if shape is not None else None
            if desc is not None and str(desc) not in msgs:
                msgs.append(str(desc))
            if isinstance(value, Literal):
                vtxt = value.n3()
            elif value is not None:
                vtxt = f"<{value}>"
            else:
                vtxt = None
            f = Finding(name, sev, str(focus) if focus is not None else None,
                        str(path) if path is not None else None,
                        str(comp) if comp is not None else None, vtxt, " / ".join(msgs))
            if known_upstream_defect(name, f.path, f.component, value):
                ignored.append(f)
            else:
                findings.append(f)
    return findings, ignored


def validate_file(path, shapes, quiet=False, shacl_only=False):
    """Validate one document; print the report; return the list of failing findings."""
    from rdflib import Graph

    t0 = time.monotonic()
    print(f"== {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        doc = json.loads(text)
    except (OSError, ValueError) as e:
        print(f"FAIL: cannot read JSON: {e}")
        return [Finding("lgmesh", "Violation", None, None, None, None, str(e))]

    ctx_problems = check_embedded_context(doc)
    if ctx_problems:
        for p in ctx_problems:
            print(f"[lgmesh] VIOLATION {p}")
        # Never hand a remote context to rdflib: it would try to fetch it.
        return [Finding("lgmesh", "Violation", None, None, None, None, p) for p in ctx_problems]

    try:
        data = Graph().parse(data=text, format="json-ld", base=RELATIVE_BASE)
    except Exception as e:  # rdflib raises assorted types for bad JSON-LD
        print(f"FAIL: not valid JSON-LD: {type(e).__name__}: {e}")
        return [Finding("lgmesh", "Violation", None, None, None, None, str(e))]
    print(f"{len(data)} triples")

    findings = [] if shacl_only else lgmesh_lints(data)
    shacl, ignored = shacl_findings(data, shapes)
    findings += shacl

    failures = [f for f in findings if f.severity == "Violation"]
    others = [f for f in findings if f.severity != "Violation"]
    for f in failures:
        print(f.line())
    if not quiet:
        for f in others:
            print(f.line())
        for f in ignored:
            print(f.line().replace("VIOLATION", "IGNORED", 1)
                  + " (known upstream defect: shapes.ttl 3.0.0 wants xsd:decimal; "
                  "DCAT-AP 3.0.0 says xsd:nonNegativeInteger; fixed in 3.0.1)")
    counts = {}
    for f in findings:
        counts.setdefault(f.source, [0, 0])[0 if f.severity == "Violation" else 1] += 1
    for name in (["lgmesh"] if not shacl_only else []) + SHAPE_FILES:
        v, w = counts.get(name, [0, 0])
        print(f"  {name}: {v} violation(s), {w} warning(s)")
    verdict = "conforms" if not failures else "DOES NOT CONFORM"
    print(f"RESULT {path}: {verdict}: {len(failures)} violation(s), {len(others)} warning(s), "
          f"{len(ignored)} ignored, {time.monotonic() - t0:.2f}s")
    return failures


def self_test(shapes, quiet):
    ok = True
    good = os.path.join(HERE, "example.jsonld")
    bad = os.path.join(HERE, "example-invalid.jsonld")
    if validate_file(good, shapes, quiet=quiet):
        print(f"SELF-TEST FAIL: {good} should conform")
        ok = False
    fails = validate_file(bad, shapes, quiet=True)
    if not fails:
        print(f"SELF-TEST FAIL: {bad} should not conform")
        ok = False
    for src, path, comp in EXPECTED_INVALID:
        if not any(f.source == src and f.path == path and f.component == comp for f in fails):
            print(f"SELF-TEST FAIL: {bad}: expected a violation [{src}] {path} {comp}")
            ok = False
    if not any(f.source == "lgmesh" and "no rdf:type" in f.message for f in fails):
        print(f"SELF-TEST FAIL: {bad}: expected the untyped-node lint to fire")
        ok = False
    print("SELF-TEST " + ("PASS" if ok else "FAIL"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("docs", nargs="*", help="JSON-LD documents")
    ap.add_argument("-q", "--quiet", action="store_true", help="print violations only")
    ap.add_argument("--shacl-only", action="store_true",
                    help="skip the lgmesh rules (embedded context is still required)")
    ap.add_argument("--self-test", action="store_true",
                    help="example.jsonld must conform, example-invalid.jsonld must not")
    args = ap.parse_args()
    if not args.docs and not args.self_test:
        ap.print_usage(sys.stderr)
        return 2
    t0 = time.monotonic()
    shapes = load_shapes()
    ok = True
    if args.self_test:
        ok = self_test(shapes, args.quiet) and ok
    for d in args.docs:
        if validate_file(d, shapes, quiet=args.quiet, shacl_only=args.shacl_only):
            ok = False
    print(f"total {time.monotonic() - t0:.2f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
