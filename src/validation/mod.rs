//! Validation beyond structure: the R4 base rules the parser does not check (required elements
//! and required bindings of core codes, in `core`), and the server's conformance package
//! (`profiles/`, compiled into the binary): a resource is checked against every profile it
//! claims in `meta.profile` that the package holds, and against every profile of its type it is
//! recognised by through its codes (an ACP treatment directive is one even when it does not say
//! so).

mod core;
mod profile;
pub mod questionnaire;
pub mod valueset;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use fhir_format::{Issue, Severity};
use include_dir::{include_dir, Dir};
use serde_json::Value;

use crate::error::issue;
pub use profile::Profile;
use profile::{contains, Discriminator, Rule, Step, Strength};

static FILES: Dir = include_dir!("$CARGO_MANIFEST_DIR/profiles");

/// The older IKNL canonical base, still named in `meta.profile` by some systems.
const IKNL_OLD_BASE: &str = "https://fhir.iknl.nl/fhir/";
const IKNL_BASE: &str = "https://api.iknl.nl/docs/pzp/r4/";

/// The codes a ValueSet admits: exact (system, code) pairs and whole code systems, minus the
/// codes it excludes.
#[derive(Debug, Default)]
struct Codes {
    pairs: HashSet<(String, String)>,
    systems: HashSet<String>,
    excluded: HashSet<(String, String)>,
}

impl From<valueset::Selection> for Codes {
    fn from(s: valueset::Selection) -> Self {
        let mut codes = Codes::default();
        for (system, code) in s.include {
            match (system, code) {
                (Some(s), Some(c)) => _ = codes.pairs.insert((s, c)),
                (Some(s), None) => _ = codes.systems.insert(s),
                _ => {}
            }
        }
        for (system, code) in s.exclude {
            match (system, code) {
                (Some(s), Some(c)) => {
                    codes.pairs.remove(&(s.clone(), c.clone()));
                    codes.excluded.insert((s, c));
                }
                (Some(s), None) => {
                    codes.systems.remove(&s);
                    codes.pairs.retain(|(ps, _)| *ps != s);
                }
                _ => {}
            }
        }
        codes
    }
}

impl Codes {
    fn admits(&self, system: Option<&str>, code: &str) -> bool {
        match system {
            Some(s) => {
                let pair = (s.to_string(), code.to_string());
                self.pairs.contains(&pair)
                    || (self.systems.contains(s) && !self.excluded.contains(&pair))
            }
            None => self.pairs.iter().any(|(_, c)| c == code),
        }
    }
}

/// The conformance package: its resources as published, and the compiled profiles.
pub struct Package {
    resources: Vec<Value>,
    /// (type, id) of every resource above, asked on every write.
    owned: HashSet<(String, String)>,
    profiles: Vec<Profile>,
    value_sets: HashMap<String, Codes>,
}

/// The package, loaded once.
pub fn package() -> &'static Package {
    static PACKAGE: OnceLock<Package> = OnceLock::new();
    PACKAGE.get_or_init(|| Package::load(&FILES))
}

/// Every `*.json` resource in `dir` and below, except worked examples.
fn files(dir: &'static Dir<'static>, out: &mut Vec<Value>) {
    for f in dir.files() {
        if f.path().extension().is_some_and(|e| e == "json") {
            match serde_json::from_slice(f.contents()) {
                Ok(v) => out.push(v),
                Err(e) => {
                    tracing::error!(file = %f.path().display(), %e, "unreadable profile file")
                }
            }
        }
    }
    for d in dir.dirs() {
        if d.path().file_name().is_some_and(|n| n != "examples") {
            files(d, out);
        }
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// A canonical without its `|version`, with the older IKNL base replaced by the current one.
pub fn canonical(url: &str) -> String {
    let url = url.split('|').next().unwrap_or(url);
    match url.strip_prefix(IKNL_OLD_BASE) {
        Some(rest) => format!("{IKNL_BASE}{rest}"),
        None => url.to_string(),
    }
}

impl Package {
    fn load(dir: &'static Dir<'static>) -> Package {
        let mut resources = Vec::new();
        files(dir, &mut resources);
        Package::from_resources(resources)
    }

    /// A package of these conformance resources.
    pub fn from_resources(mut resources: Vec<Value>) -> Package {
        resources.sort_by(|a, b| {
            (text(a, "resourceType"), text(a, "id")).cmp(&(text(b, "resourceType"), text(b, "id")))
        });
        let types: HashMap<String, String> = resources
            .iter()
            .filter(|r| text(r, "resourceType") == Some("StructureDefinition"))
            .filter_map(|r| Some((text(r, "url")?.to_string(), text(r, "type")?.to_string())))
            .collect();
        let type_of = |url: &str| types.get(&canonical(url)).cloned();
        let profiles = resources
            .iter()
            .filter(|r| text(r, "resourceType") == Some("StructureDefinition"))
            .filter_map(|r| Profile::compile(r, &type_of))
            .collect();
        let mut value_sets = HashMap::new();
        let by_url: HashMap<&str, &Value> = resources
            .iter()
            .filter(|r| text(r, "resourceType") == Some("ValueSet"))
            .filter_map(|r| Some((text(r, "url")?, r)))
            .collect();
        for url in by_url.keys() {
            let mut resolve = |u: &str| Ok(by_url.get(canonical(u).as_str()).map(|v| (*v).clone()));
            // The package is ours and compiled in: a ValueSet it cannot expand is a build error.
            let selection = valueset::select(url, &mut resolve)
                .unwrap_or_else(|e| panic!("profiles/: {}", e.describe()));
            value_sets.insert(url.to_string(), Codes::from(selection));
        }
        let owned = resources
            .iter()
            .filter_map(|r| {
                Some((
                    text(r, "resourceType")?.to_string(),
                    text(r, "id")?.to_string(),
                ))
            })
            .collect();
        Package {
            resources,
            owned,
            profiles,
            value_sets,
        }
    }

    /// Whether `res_type/id` is one of the package's resources.
    pub fn owns(&self, res_type: &str, id: &str) -> bool {
        self.owned.contains(&(res_type.to_string(), id.to_string()))
    }

    /// The conformance resources, to publish.
    pub fn resources(&self) -> &[Value] {
        &self.resources
    }

    /// The profiles of one resource type.
    pub fn profiles_of<'a>(&'a self, res_type: &'a str) -> impl Iterator<Item = &'a Profile> + 'a {
        self.profiles.iter().filter(move |p| p.res_type == res_type)
    }

    /// The extension definition with this url, if the package holds it.
    fn extension(&self, url: &str) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|p| p.res_type == "Extension" && p.url == url)
    }

    /// The profiles `resource` is checked against: those it claims, and those its codes show
    /// it to be.
    pub fn applicable(&self, resource: &Value) -> Vec<&Profile> {
        let res_type = text(resource, "resourceType").unwrap_or_default();
        let claimed: HashSet<String> = resource
            .pointer("/meta/profile")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(canonical)
            .collect();
        self.profiles
            .iter()
            .filter(|p| p.res_type == res_type)
            .filter(|p| claimed.contains(&p.url) || recognised(p, resource))
            .collect()
    }

    /// Every issue `resource` has against the profiles that apply to it.
    pub fn validate(&self, resource: &Value) -> Vec<Issue> {
        let mut issues = Vec::new();
        for p in self.applicable(resource) {
            self.check(p, resource, &mut issues);
            invariants(p, resource, &mut issues);
        }
        issues.extend(core::check(resource));
        issues
    }

    /// The profile with this canonical (older IKNL base and `|version` allowed).
    pub fn profile(&self, url: &str) -> Option<&Profile> {
        let url = canonical(url);
        self.profiles.iter().find(|p| p.url == url)
    }

    /// [`Package::validate`], and also against `profile` whether or not the resource claims it.
    pub fn validate_against(&self, resource: &Value, profile: &Profile) -> Vec<Issue> {
        let mut issues = self.validate(resource);
        if !self
            .applicable(resource)
            .iter()
            .any(|p| p.url == profile.url)
        {
            self.check(profile, resource, &mut issues);
            invariants(profile, resource, &mut issues);
        }
        issues
    }

    fn check(&self, p: &Profile, resource: &Value, issues: &mut Vec<Issue>) {
        self.check_at(p, resource, p.res_type.clone(), issues);
    }

    /// Checks `node` (found at `at`) against the rules of `p`.
    fn check_at(&self, p: &Profile, node: &Value, at: String, issues: &mut Vec<Issue>) {
        let root = vec![(node, at)];
        for rule in &p.rules {
            let (last, parents) = match rule.steps.split_last() {
                Some((last, before)) => (last, walk(p, &root, before)),
                None => continue,
            };
            let prefix: Vec<&str> = rule.steps.iter().map(|s| s.name.as_str()).collect();
            let path = prefix.join(".");
            let mut all = Vec::new();
            for parent in &parents {
                let found = items(p, parent, last, &path);
                let n = found.len() as u64;
                let slice = last
                    .slice
                    .as_deref()
                    .map(|s| format!(" (slice {s})"))
                    .unwrap_or_default();
                let at = format!("{}.{}", parent.1, last.name);
                if rule.min.is_some_and(|m| n < m) {
                    issues.push(problem(
                        p,
                        "required",
                        format!(
                            "{at}{slice} must occur at least {} time(s), found {n}",
                            rule.min.unwrap_or(0)
                        ),
                        at.clone(),
                    ));
                }
                if rule.max.is_some_and(|m| n > m) {
                    let text = match rule.max {
                        Some(0) => format!("{at}{slice} is not allowed"),
                        m => format!(
                            "{at}{slice} may occur at most {} time(s), found {n}",
                            m.unwrap_or(0)
                        ),
                    };
                    issues.push(problem(p, "structure", text, at.clone()));
                }
                all.extend(found);
            }
            // An extension slice is also held to the extension's own definition.
            let definition = match (&last.slice, rule.steps.len()) {
                (Some(slice), _) => match p.discriminator(&path, slice) {
                    Some(Discriminator::Url(url)) => self.extension(url),
                    _ => None,
                },
                _ => None,
            };
            for (value, at) in all {
                check_choice(p, rule, &at, issues);
                self.check_value(p, rule, value, &at, issues);
                if let Some(ext) = definition {
                    self.check_at(ext, value, at, issues);
                }
            }
        }
    }

    fn check_value(
        &self,
        p: &Profile,
        rule: &Rule,
        value: &Value,
        at: &str,
        issues: &mut Vec<Issue>,
    ) {
        if let Some(fixed) = &rule.fixed {
            if value != fixed {
                issues.push(problem(
                    p,
                    "value",
                    format!("{at} must be {fixed}, not {value}"),
                    at.to_string(),
                ));
            }
        }
        if let Some(pattern) = &rule.pattern {
            if !contains(value, pattern) {
                issues.push(problem(
                    p,
                    "value",
                    format!("{at} must contain {pattern}"),
                    at.to_string(),
                ));
            }
        }
        if let Some((strength, url)) = &rule.binding {
            if let Some(codes) = self.value_sets.get(&canonical(url)) {
                let coded = codings(value);
                let ok = coded.iter().any(|(s, c)| codes.admits(*s, c));
                let required = *strength == Strength::Required;
                if !ok && (required || !coded.is_empty()) {
                    let shown: Vec<String> = coded
                        .iter()
                        .map(|(s, c)| match s {
                            Some(s) => format!("{s}|{c}"),
                            None => c.to_string(),
                        })
                        .collect();
                    let text = format!(
                        "{at} has no code from ValueSet {url} (found: {})",
                        if shown.is_empty() {
                            "none".to_string()
                        } else {
                            shown.join(", ")
                        }
                    );
                    let mut i = problem(p, "code-invalid", text, at.to_string());
                    if !required {
                        i.severity = Severity::Warning;
                    }
                    issues.push(i);
                }
            }
        }
        if !rule.targets.is_empty() {
            if let Some(t) = value
                .get("reference")
                .and_then(Value::as_str)
                .and_then(reference_type)
            {
                if !rule
                    .targets
                    .iter()
                    .any(|allowed| allowed == t || allowed == "Resource")
                {
                    issues.push(problem(
                        p,
                        "invalid",
                        format!(
                            "{at} refers to a {t}, but may only refer to {}",
                            rule.targets.join(" or ")
                        ),
                        at.to_string(),
                    ));
                }
            }
        }
    }
}

/// A choice element (`valueString` at `...value[x]`) must be of one of the profile's types.
fn check_choice(p: &Profile, rule: &Rule, at: &str, issues: &mut Vec<Issue>) {
    let Some(base) = rule.steps.last().and_then(|s| s.name.strip_suffix("[x]")) else {
        return;
    };
    if rule.choices.is_empty() {
        return;
    }
    let element = at.rsplit('.').next().unwrap_or_default();
    let element = element.split('[').next().unwrap_or(element);
    let Some(suffix) = element.strip_prefix(base) else {
        return;
    };
    if !rule.choices.iter().any(|t| t.eq_ignore_ascii_case(suffix)) {
        let allowed: Vec<String> = rule
            .choices
            .iter()
            .map(|t| format!("{base}{}", capitalised(t)))
            .collect();
        issues.push(problem(
            p,
            "structure",
            format!("{at} is not allowed here; use {}", allowed.join(" or ")),
            at.to_string(),
        ));
    }
}

fn capitalised(t: &str) -> String {
    let mut c = t.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The codes of a code, Coding or CodeableConcept.
fn codings(v: &Value) -> Vec<(Option<&str>, &str)> {
    match v {
        Value::String(s) => vec![(None, s.as_str())],
        Value::Object(_) if v.get("coding").is_some() => list(v, "coding")
            .filter_map(|c| Some((text(c, "system"), text(c, "code")?)))
            .collect(),
        Value::Object(_) => text(v, "code")
            .map(|c| vec![(text(v, "system"), c)])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The resource type of a literal reference (`Patient/1`, an absolute URL, `.../_history/2`).
fn reference_type(reference: &str) -> Option<&str> {
    if reference.starts_with('#') || reference.starts_with("urn:") {
        return None;
    }
    let parts: Vec<&str> = reference.split('/').collect();
    let end = match parts.iter().rposition(|p| *p == "_history") {
        Some(h) => h,
        None => parts.len(),
    };
    (end >= 2)
        .then(|| parts[end - 2])
        .filter(|t| fhir_format::is_resource_type(t))
}

/// Whether a resource shows by its codes that it is what `p` profiles: every identifying
/// pattern of the profile holds, and it has at least one.
fn recognised(p: &Profile, resource: &Value) -> bool {
    const IDENTIFYING: &[&str] = &["code", "category", "scope", "type"];
    let mut any = false;
    for rule in &p.rules {
        let [step] = rule.steps.as_slice() else {
            continue;
        };
        if !IDENTIFYING.contains(&step.name.as_str()) {
            continue;
        }
        let pattern = match (&step.slice, &rule.pattern, &rule.fixed) {
            (None, Some(pattern), _) | (None, None, Some(pattern)) => pattern,
            (Some(slice), _, _) if rule.min.is_some_and(|m| m > 0) => {
                match p.discriminator(&step.name, slice) {
                    Some(Discriminator::Pattern(pattern)) => pattern,
                    _ => continue,
                }
            }
            _ => continue,
        };
        any = true;
        let found = match resource.get(&step.name) {
            Some(Value::Array(items)) => items.iter().any(|i| contains(i, pattern)),
            Some(v) => contains(v, pattern),
            None => false,
        };
        if !found {
            return false;
        }
    }
    any
}

/// Rules a profile states as invariants, which the differential cannot express.
fn invariants(p: &Profile, resource: &Value, issues: &mut Vec<Issue>) {
    const SPECIFICATION_OTHER: &str =
        "http://nictiz.nl/fhir/StructureDefinition/ext-TreatmentDirective2.SpecificationOther";
    if p.url == format!("{IKNL_BASE}StructureDefinition/ACP-TreatmentDirective") {
        // The decision is permit or deny, or neither with the agreement in free text; the text
        // is what the patient agreed, so it may not be missing or hidden behind a decision.
        let decided = resource.pointer("/provision/type").is_some();
        let other = list(resource, "modifierExtension")
            .any(|e| text(e, "url") == Some(SPECIFICATION_OTHER));
        let message = match (decided, other) {
            (false, false) => "has neither a decision (provision.type permit or deny) nor the agreement in the SpecificationOther extension",
            (true, true) => "has both a decision (provision.type) and a SpecificationOther text; a directive with its own wording has no permit or deny",
            _ => return,
        };
        issues.push(problem(
            p,
            "business-rule",
            format!("the treatment directive {message}"),
            "Consent.provision".into(),
        ));
    }
}

fn problem(p: &Profile, code: &'static str, text: String, at: String) -> Issue {
    issue(
        Severity::Error,
        code,
        format!("{text} (profile {})", p.url),
        Some(at),
    )
}

/// The nodes `steps` lead to from `start`, with their expressions.
fn walk<'a>(
    p: &Profile,
    start: &[(&'a Value, String)],
    steps: &[Step],
) -> Vec<(&'a Value, String)> {
    let mut nodes = start.to_vec();
    for (n, step) in steps.iter().enumerate() {
        let path: Vec<&str> = steps[..=n].iter().map(|s| s.name.as_str()).collect();
        nodes = nodes
            .iter()
            .flat_map(|node| items(p, node, step, &path.join(".")))
            .collect();
    }
    nodes
}

/// The items of one step under one node, only those of the step's slice when it names one.
/// `path` is the step's path (without slice names) for finding the slice's discriminator.
fn items<'a>(
    p: &Profile,
    node: &(&'a Value, String),
    step: &Step,
    path: &str,
) -> Vec<(&'a Value, String)> {
    let Value::Object(map) = node.0 else {
        return Vec::new();
    };
    let choice = step.name.strip_suffix("[x]");
    let mut out = Vec::new();
    for (key, value) in map {
        let hit = match choice {
            Some(base) => key
                .strip_prefix(base)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase())),
            None => key == &step.name,
        };
        if !hit {
            continue;
        }
        match value {
            Value::Array(list) => {
                for (i, v) in list.iter().enumerate() {
                    out.push((v, format!("{}.{key}[{i}]", node.1)));
                }
            }
            v => out.push((v, format!("{}.{key}", node.1))),
        }
    }
    if let Some(slice) = &step.slice {
        let d = p.discriminator(path, slice);
        out.retain(|(v, _)| match d {
            Some(Discriminator::Pattern(pattern)) => contains(v, pattern),
            Some(Discriminator::Url(url)) => text(v, "url") == Some(url.as_str()),
            None => false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCT: &str = "http://snomed.info/sct";

    fn package() -> Package {
        let sd = json!({"resourceType": "StructureDefinition", "id": "td", "name": "TestDirective",
        "url": "https://api.iknl.nl/docs/pzp/r4/StructureDefinition/td", "kind": "resource", "type": "Consent",
        "differential": {"element": [
            {"id": "Consent.status", "path": "Consent.status", "fixedCode": "active"},
            {"id": "Consent.scope", "path": "Consent.scope", "patternCodeableConcept": {"coding": [{"system": "s", "code": "treatment"}]}},
            {"id": "Consent.category", "path": "Consent.category", "slicing": {"discriminator": [{"type": "pattern", "path": "$this"}], "rules": "open"}},
            {"id": "Consent.category:td", "path": "Consent.category", "sliceName": "td", "min": 1, "max": "1",
             "patternCodeableConcept": {"coding": [{"system": SCT, "code": "129125009"}]}},
            {"id": "Consent.patient", "path": "Consent.patient", "min": 1,
             "type": [{"code": "Reference", "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Patient"]}]},
            {"id": "Consent.provision.code", "path": "Consent.provision.code", "min": 1, "max": "1",
             "binding": {"strength": "required", "valueSet": "https://example.org/vs"}},
            {"id": "Consent.provision.actor.role", "path": "Consent.provision.actor.role",
             "binding": {"strength": "extensible", "valueSet": "https://example.org/vs"}},
            {"id": "Consent.modifierExtension:other", "path": "Consent.modifierExtension", "sliceName": "other", "max": "1",
             "type": [{"code": "Extension", "profile": ["https://example.org/other"]}]},
        ]}});
        let vs = json!({"resourceType": "ValueSet", "id": "vs", "url": "https://example.org/vs",
            "compose": {"include": [{"system": SCT, "concept": [{"code": "89666000"}]}]}});
        Package::from_resources(vec![sd, vs])
    }

    fn valid() -> Value {
        json!({"resourceType": "Consent", "status": "active",
            "scope": {"coding": [{"system": "s", "code": "treatment"}]},
            "category": [{"coding": [{"system": SCT, "code": "129125009"}]}],
            "patient": {"reference": "Patient/p"},
            "provision": {"code": [{"coding": [{"system": SCT, "code": "89666000"}]}],
                          "actor": [{"role": {"coding": [{"system": SCT, "code": "89666000"}]}, "reference": {"reference": "Patient/p"}}]}})
    }

    fn errors(p: &Package, r: &Value) -> Vec<String> {
        p.validate(r)
            .into_iter()
            .filter(|i| i.severity.is_failure())
            .map(|i| format!("{} {}", i.expression.unwrap_or_default(), i.code))
            .collect()
    }

    #[test]
    fn a_conforming_resource_has_no_issues() {
        assert!(package().validate(&valid()).is_empty());
    }

    #[test]
    fn each_rule_is_enforced_with_its_location() {
        let p = package();
        let mut r = valid();
        r["status"] = json!("draft");
        assert_eq!(errors(&p, &r), ["Consent.status value"]);

        let mut r = valid();
        r["patient"] = json!({"reference": "Practitioner/x"});
        assert_eq!(errors(&p, &r), ["Consent.patient invalid"]);

        let mut r = valid();
        r.as_object_mut().unwrap().remove("patient");
        assert_eq!(errors(&p, &r), ["Consent.patient required"]);

        let mut r = valid();
        r["provision"]["code"][0]["coding"][0]["code"] = json!("1");
        assert_eq!(errors(&p, &r), ["Consent.provision.code[0] code-invalid"]);

        let mut r = valid();
        r["category"] = json!([{"coding": [{"system": SCT, "code": "129125009"}]}, {"coding": [{"system": SCT, "code": "129125009"}]}]);
        assert_eq!(errors(&p, &r), ["Consent.category structure"], "slice max");

        let mut r = valid();
        r["modifierExtension"] = json!([{"url": "https://example.org/other", "valueString": "a"},
                                        {"url": "https://example.org/other", "valueString": "b"}]);
        assert_eq!(errors(&p, &r), ["Consent.modifierExtension structure"]);
    }

    #[test]
    fn extensible_bindings_only_warn() {
        let p = package();
        let mut r = valid();
        r["provision"]["actor"][0]["role"]["coding"][0]["code"] = json!("other");
        let issues = p.validate(&r);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].severity, Severity::Warning);
    }

    #[test]
    fn profiles_apply_when_claimed_or_recognised_by_code() {
        let p = package();
        // Recognised by scope and category although it claims nothing.
        let mut r = valid();
        r["status"] = json!("draft");
        assert_eq!(p.applicable(&r).len(), 1);
        // Another kind of Consent is not held to this profile...
        let mut other = r.clone();
        other["category"] = json!([{"coding": [{"system": SCT, "code": "1"}]}]);
        assert!(p.applicable(&other).is_empty());
        // ...unless it claims it, also under the older IKNL base and with a version.
        other["meta"] =
            json!({"profile": ["https://fhir.iknl.nl/fhir/StructureDefinition/td|1.0.0"]});
        assert_eq!(p.applicable(&other).len(), 1);
        assert!(errors(&p, &other).contains(&"Consent.category required".to_string()));
    }

    #[test]
    fn reference_types_are_read_from_every_form() {
        assert_eq!(reference_type("Patient/1"), Some("Patient"));
        assert_eq!(
            reference_type("http://h/fhir/Patient/1/_history/2"),
            Some("Patient")
        );
        assert_eq!(reference_type("urn:uuid:1"), None);
        assert_eq!(reference_type("#c"), None);
    }
}
