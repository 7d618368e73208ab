//! Every JSON example of the shared conformance fixtures must parse, and survive a
//! JSON -> XML -> JSON round trip unchanged.

use std::path::{Path, PathBuf};

use fhir_format::{parse, to_xml, Format};
use serde_json::Value;

/// Folders of the fixtures checked here.
const FOLDERS: &[&str] = &[
    "r4-examples",
    "iknl/examples",
    "iknl/bundles",
    "iknl/questionnaires",
    "iknl/definitions",
];

/// Files that cannot pass, with the reason.
const KNOWN_FAILURES: &[(&str, &str)] = &[(
    "r4-examples/Questionnaire-zika-virus-exposure-assessment.json",
    "its narrative is an empty <pre>, whitespace only: txt-2 requires some content (R4's \
     FHIRPath for txt-2 is htmlChecks(), so the official validator does not catch it)",
)];

/// The shared fixtures live outside the repository: look for `shared/conformance` next
/// to (or inside) any ancestor of this crate.
fn fixtures() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for ancestor in manifest.ancestors() {
        for candidate in [
            ancestor.join("shared/conformance"),
            ancestor.join("../shared/conformance"),
        ] {
            if candidate.is_dir() {
                return Some(candidate);
            }
        }
    }
    None
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn conformance_fixtures_parse_and_round_trip_through_xml() {
    let Some(root) = fixtures() else {
        println!("skipped: shared conformance fixtures not found");
        return;
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    for folder in FOLDERS {
        for path in json_files(&root.join(folder)) {
            let name = format!("{folder}/{}", path.file_name().unwrap().to_string_lossy());
            let known = KNOWN_FAILURES.iter().any(|(file, _)| *file == name);
            let bytes = std::fs::read(&path).expect("readable fixture");
            let outcome = round_trip(&bytes);
            checked += 1;
            match (outcome, known) {
                (Ok(()), false) => {}
                (Ok(()), true) => failures.push(format!("{name}: listed as failing but passes")),
                (Err(_), true) => {}
                (Err(message), false) => failures.push(format!("{name}: {message}")),
            }
        }
    }
    println!("checked {checked} fixtures");
    assert!(checked > 0, "no fixtures found under {}", root.display());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn round_trip(bytes: &[u8]) -> Result<(), String> {
    let value = parse(bytes, Format::Json).map_err(|issues| {
        let list: Vec<String> = issues.iter().map(|i| i.diagnostics.clone()).collect();
        format!("parse failed: {}", list.join("; "))
    })?;
    let original: Value = serde_json::from_slice(bytes).expect("valid JSON");
    if value != original {
        return Err("parse changed the resource".to_string());
    }
    let xml = to_xml(&value, true).map_err(|issue| format!("to_xml failed: {issue}"))?;
    let back = parse(&xml, Format::Xml).map_err(|issues| {
        let list: Vec<String> = issues.iter().map(|i| i.diagnostics.clone()).collect();
        format!("parse of XML failed: {}", list.join("; "))
    })?;
    if back != value {
        return Err(format!(
            "XML round trip differs: {}",
            first_difference(&value, &back, "")
        ));
    }
    Ok(())
}

/// Where two values first differ, for a readable failure.
fn first_difference(a: &Value, b: &Value, path: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (key, value) in x {
                match y.get(key) {
                    None => return format!("{path}.{key} missing after round trip"),
                    Some(other) if other != value => {
                        return first_difference(value, other, &format!("{path}.{key}"))
                    }
                    _ => {}
                }
            }
            for key in y.keys() {
                if !x.contains_key(key) {
                    return format!("{path}.{key} added by round trip");
                }
            }
            format!("{path}: differs")
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                if p != q {
                    return first_difference(p, q, &format!("{path}[{i}]"));
                }
            }
            format!("{path}: differs")
        }
        _ => format!("{path}: {a} became {b}"),
    }
}
