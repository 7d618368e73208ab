//! FHIR XML in and out, through fhirbolt.

use std::time::{Duration, Instant};

use fhir_format::{parse, parse_with, to_json, to_xml, Format, Issue, Limits, Severity};
use serde_json::Value;

fn json(text: &str) -> Value {
    parse(text.as_bytes(), Format::Json).unwrap_or_else(|issues| panic!("{issues:#?}"))
}

fn xml_issues(text: &str) -> Vec<Issue> {
    match parse(text.as_bytes(), Format::Xml) {
        Ok(value) => panic!("expected issues, got {value}"),
        Err(issues) => issues,
    }
}

fn xml_string(value: &Value, pretty: bool) -> String {
    String::from_utf8(to_xml(value, pretty).unwrap_or_else(|issue| panic!("{issue}"))).unwrap()
}

/// JSON -> XML -> JSON must give the same resource.
fn assert_round_trip(value: &Value) -> String {
    let xml = xml_string(value, true);
    let back =
        parse(xml.as_bytes(), Format::Xml).unwrap_or_else(|issues| panic!("{xml}\n{issues:#?}"));
    assert_eq!(&back, value, "{xml}");
    let plain = xml_string(value, false);
    let back = parse(plain.as_bytes(), Format::Xml)
        .unwrap_or_else(|issues| panic!("{plain}\n{issues:#?}"));
    assert_eq!(&back, value, "{plain}");
    xml
}

const TRANSACTION: &str = r#"{
  "resourceType": "Bundle",
  "type": "transaction",
  "entry": [
    {
      "fullUrl": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
      "resource": {"resourceType": "Patient", "name": [{"family": "Dubois", "given": ["Émile"]}]},
      "request": {"method": "POST", "url": "Patient"}
    },
    {
      "resource": {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "subject": {"reference": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"},
        "valueQuantity": {"value": 72.50, "unit": "kg"}
      },
      "request": {"method": "PUT", "url": "Observation/weight-1"}
    }
  ]
}"#;

#[test]
fn decimals_survive_json_xml_json() {
    let value = json(
        r#"{"resourceType":"Observation","status":"final","code":{"text":"weight"},"valueQuantity":{"value":72.50,"unit":"kg"},"component":[{"code":{"text":"x"},"valueQuantity":{"value":0.10}}]}"#,
    );
    let xml = assert_round_trip(&value);
    assert!(xml.contains(r#"<value value="72.50"/>"#), "{xml}");
    assert!(xml.contains(r#"<value value="0.10"/>"#), "{xml}");
    let back = parse(xml.as_bytes(), Format::Xml).unwrap();
    let text = String::from_utf8(to_json(&back, false)).unwrap();
    assert!(text.contains(r#""value":72.50"#), "{text}");
}

#[test]
fn xml_decimal_becomes_exact_json_number() {
    let xml = r#"<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><text value="w"/></code><valueQuantity><value value="72.50"/></valueQuantity></Observation>"#;
    let value = parse(xml.as_bytes(), Format::Xml).unwrap();
    let text = String::from_utf8(to_json(&value, false)).unwrap();
    assert_eq!(
        text,
        r#"{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueQuantity":{"value":72.50}}"#
    );
}

#[test]
fn unicode_round_trip() {
    let value = json(
        r#"{"resourceType":"Patient","name":[{"family":"Ğüneş","given":["Émile","Zoë 😀"]}],"address":[{"city":"'s-Hertogenbosch","line":["Straße 1 <a> & \"b\""]}]}"#,
    );
    let xml = assert_round_trip(&value);
    assert!(xml.contains("Émile"), "{xml}");
}

#[test]
fn line_breaks_in_strings_survive_xml() {
    let value =
        json(r#"{"resourceType":"Patient","name":[{"text":"line 1\nline 2\ttab\r\nend"}]}"#);
    let xml = assert_round_trip(&value);
    assert!(
        xml.contains("line 1&#10;line 2&#9;tab&#13;&#10;end"),
        "{xml}"
    );
}

#[test]
fn primitive_extension_round_trip() {
    let value = json(
        r#"{"resourceType":"Patient",
        "birthDate":"1941-05-17",
        "_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1941-05-17T14:35:45-05:00"}]},
        "name":[{"given":["Émile",null],"_given":[null,{"id":"g2","extension":[{"url":"http://example.org/x","valueCode":"UNK"}]}]}],
        "_active":{"id":"a1"}}"#,
    );
    let xml = assert_round_trip(&value);
    assert!(xml.contains(r#"<birthDate value="1941-05-17">"#), "{xml}");
    assert!(xml.contains(r#"<given id="g2">"#), "{xml}");
}

#[test]
fn contained_and_narrative_round_trip() {
    let value = json(
        r##"{"resourceType":"Patient","id":"p1",
        "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"nl\">\n  <p>Émile  <b>Dubois</b> &amp; co</p>\n  <pre>  a\n   b</pre>\n</div>"},
        "contained":[{"resourceType":"Organization","id":"org1","name":"Praktijk","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><img src=\"#logo\"/></div>"}}],
        "managingOrganization":{"reference":"#org1"}}"##,
    );
    let xml = assert_round_trip(&value);
    // the narrative is written verbatim, not re-indented
    assert!(
        xml.contains("<p>Émile  <b>Dubois</b> &amp; co</p>\n  <pre>  a\n   b</pre>"),
        "{xml}"
    );
}

#[test]
fn transaction_bundle_round_trip() {
    let value = json(TRANSACTION);
    let xml = assert_round_trip(&value);
    assert!(xml.contains("<Observation>"), "{xml}");
}

#[test]
fn parameters_round_trip() {
    let value = json(
        r#"{"resourceType":"Parameters","parameter":[{"name":"p","resource":{"resourceType":"Patient","active":true}},{"name":"n","valueInteger":3},{"name":"parts","part":[{"name":"a","valueString":"x"}]}]}"#,
    );
    assert_round_trip(&value);
}

#[test]
fn missing_required_elements_are_not_an_xml_problem() {
    // fhirbolt needs every required single element; markers stand in for missing ones
    for text in [
        r#"{"resourceType":"Questionnaire","status":"draft","item":[{"type":"group","item":[{"text":"x","type":"string"}]}]}"#,
        r#"{"resourceType":"Observation","valueString":"x"}"#,
        r#"{"resourceType":"Task","status":"draft","intent":"order","input":[{"type":{"text":"t"}}]}"#,
        r#"{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/1"}}"#,
        r#"{"resourceType":"Patient","text":{"status":"generated"}}"#,
        r#"{"resourceType":"Patient","text":{"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}"#,
        r#"{"resourceType":"Bundle","entry":[{"request":{"url":"Patient"},"resource":{"resourceType":"Immunization","patient":{"reference":"Patient/1"}}}]}"#,
        r#"{"resourceType":"Provenance","signature":[{"data":"SGVsbG8="}]}"#,
    ] {
        let value = json(text);
        let xml = assert_round_trip(&value);
        assert!(!xml.contains('\u{FFFE}'), "{xml}");
    }
    let xml = xml_string(
        &json(r#"{"resourceType":"Questionnaire","item":[{"text":"x"}]}"#),
        true,
    );
    assert_eq!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Questionnaire xmlns=\"http://hl7.org/fhir\">\n  <item>\n    <text value=\"x\"/>\n  </item>\n</Questionnaire>"
    );
}

#[test]
fn xml_missing_required_elements_are_accepted() {
    let xml = r#"<Task xmlns="http://hl7.org/fhir"><input><type><text value="t"/></type></input><text><status value="generated"/></text></Task>"#;
    let value = parse(xml.as_bytes(), Format::Xml).unwrap_or_else(|issues| panic!("{issues:#?}"));
    assert_eq!(
        value,
        json(
            r#"{"resourceType":"Task","text":{"status":"generated"},"input":[{"type":{"text":"t"}}]}"#
        )
    );
    let xml = r#"<Questionnaire xmlns="http://hl7.org/fhir"><item/></Questionnaire>"#;
    let issues = xml_issues(xml);
    assert_eq!(
        issues[0].expression.as_deref(),
        Some("Questionnaire.item[0]"),
        "{issues:#?}"
    );
}

#[test]
fn pretty_and_plain_output() {
    let value = json(r#"{"resourceType":"Patient","active":true,"name":[{"family":"A"}]}"#);
    let pretty = xml_string(&value, true);
    let plain = xml_string(&value, false);
    assert!(pretty.contains("\n  <active value=\"true\"/>"), "{pretty}");
    assert_eq!(
        plain,
        r#"<?xml version="1.0" encoding="UTF-8"?><Patient xmlns="http://hl7.org/fhir"><active value="true"/><name><family value="A"/></name></Patient>"#
    );
}

#[test]
fn to_xml_refuses_invalid_resources() {
    let value: Value =
        serde_json::from_str(r#"{"resourceType":"Patient","name":[],"birthDate":"x"}"#).unwrap();
    let issue = to_xml(&value, true).unwrap_err();
    assert_eq!(issue.severity, Severity::Error);
    assert!(
        issue.diagnostics.contains("(and 1 more issues)"),
        "{}",
        issue.diagnostics
    );
}

#[test]
fn unknown_xml_element_has_path() {
    let issues = xml_issues(
        r#"<Patient xmlns="http://hl7.org/fhir"><contact><name><family value="A"/></name><foo value="1"/></contact></Patient>"#,
    );
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert_eq!(
        issues[0].diagnostics,
        "Unknown element 'foo' in Patient.contact[0]"
    );
    assert_eq!(
        issues[0].expression.as_deref(),
        Some("Patient.contact[0].foo")
    );
}

#[test]
fn unknown_xml_element_is_reported_even_when_required_elements_are_missing() {
    // fhirbolt's lax mode (used when required elements are missing) would drop <foo>
    let issues = xml_issues(
        r#"<Questionnaire xmlns="http://hl7.org/fhir"><status value="draft"/><item><type value="display"/><foo value="x"/></item></Questionnaire>"#,
    );
    assert_eq!(
        issues[0].expression.as_deref(),
        Some("Questionnaire.item[0].foo")
    );
}

#[test]
fn xml_values_are_checked_with_path() {
    let issues = xml_issues(
        r#"<Patient xmlns="http://hl7.org/fhir"><id value="a b"/><birthDate value="17-05-1941"/><active value="true"/></Patient>"#,
    );
    let paths: Vec<_> = issues
        .iter()
        .map(|i| i.expression.as_deref().unwrap())
        .collect();
    assert_eq!(paths, vec!["Patient.id", "Patient.birthDate"]);
}

#[test]
fn invalid_xml_is_rejected() {
    for (xml, why) in [
        ("<Patient xmlns=\"http://hl7.org/fhir\"><active value=\"true\"></Patient>", "malformed"),
        ("<Patient><active value=\"true\"/></Patient>", "no namespace"),
        ("<Patient xmlns=\"http://hl7.org/fhir/other\"><active value=\"true\"/></Patient>", "wrong namespace"),
        ("<Patients xmlns=\"http://hl7.org/fhir\"/>", "unknown resource"),
        ("<Patient xmlns=\"http://hl7.org/fhir\"><active value=\"yes\"/></Patient>", "bad boolean"),
        ("<Patient xmlns=\"http://hl7.org/fhir\"><name/></Patient>", "empty element"),
        ("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Patient xmlns=\"http://hl7.org/fhir\"/>", "encoding"),
        ("{\"resourceType\":\"Patient\"}", "JSON"),
        ("", "empty"),
        ("<Patient xmlns=\"http://hl7.org/fhir\"><text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x</div></text></Patient>", "bad xhtml"),
    ] {
        let issues = match parse(xml.as_bytes(), Format::Xml) {
            Ok(value) => panic!("{why}: accepted as {value}"),
            Err(issues) => issues,
        };
        assert!(!issues.is_empty(), "{why}");
        assert!(issues.iter().all(|i| i.severity.is_failure()), "{why}: {issues:#?}");
    }
}

#[test]
fn xml_narrative_is_kept_verbatim() {
    let xml = "<Patient xmlns=\"http://hl7.org/fhir\"><text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"nl\">\n  <p>Hallo  <i>wereld</i></p>\n</div></text><active value=\"true\"/></Patient>";
    let value = parse(xml.as_bytes(), Format::Xml).unwrap();
    assert_eq!(
        value["text"]["div"],
        "<div xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"nl\">\n  <p>Hallo  <i>wereld</i></p>\n</div>"
    );
}

#[test]
fn xml_comments_and_declaration_are_accepted() {
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- a comment -->\n<Patient xmlns=\"http://hl7.org/fhir\">\n  <!-- another -->\n  <active value=\"true\"/>\n</Patient>\n";
    let value = parse(xml.as_bytes(), Format::Xml).unwrap();
    assert_eq!(value, json(r#"{"resourceType":"Patient","active":true}"#));
}

/// `Limits::default().max_depth`.
const DEFAULT_DEPTH: usize = 32;

/// Run `f` on a thread with a 2 MiB stack (the default for spawned threads, and smaller
/// than a main thread's): deep input must not overflow it.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("thread starts")
        .join()
        .expect("no panic, no stack overflow")
}

/// A Patient whose extensions nest so that the deepest element is at `levels` (the
/// Patient being the first).
fn nested_extensions(levels: usize) -> String {
    format!(
        r#"<Patient xmlns="http://hl7.org/fhir">{}<valueString value="deepest"/>{}</Patient>"#,
        r#"<extension url="http://example.org/nest">"#.repeat(levels - 2),
        "</extension>".repeat(levels - 2)
    )
}

/// A Patient whose narrative, started by the tag `open`, nests `levels` elements below
/// its div.
fn nested_narrative(open: &str, levels: usize) -> String {
    let name = open[1..].split(' ').next().unwrap_or("div");
    format!(
        r#"<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>{open}{}x{}</{name}></text></Patient>"#,
        "<b>".repeat(levels),
        "</b>".repeat(levels)
    )
}

/// The one issue of input refused for its depth, which it must not echo.
fn assert_too_deep(result: Result<Value, Vec<Issue>>, max: usize) {
    let found = result.expect_err("refused");
    assert_eq!(found.len(), 1, "{found:#?}");
    let issue = &found[0];
    assert!(issue.severity.is_failure());
    assert_eq!(issue.code, "too-long");
    assert!(
        issue
            .diagnostics
            .contains(&format!("deeper than {max} levels")),
        "{}",
        issue.diagnostics
    );
    assert!(
        !issue.diagnostics.contains("example.org"),
        "{}",
        issue.diagnostics
    );
}

#[test]
fn deep_xml_is_refused_quickly_on_a_small_stack() {
    for levels in [640, 100_000] {
        let xml = nested_extensions(levels);
        let started = Instant::now();
        let result = on_small_stack(move || parse(xml.as_bytes(), Format::Xml));
        assert_too_deep(result, DEFAULT_DEPTH);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{levels} levels"
        );
    }
}

#[test]
fn xml_at_the_depth_limit_is_accepted_on_a_small_stack() {
    let xml = nested_extensions(DEFAULT_DEPTH);
    on_small_stack(move || {
        let value = parse(xml.as_bytes(), Format::Xml).unwrap_or_else(|e| panic!("{e:#?}"));
        to_xml(&value, true).unwrap_or_else(|e| panic!("{e}"));
    });
    assert_too_deep(
        parse(nested_extensions(DEFAULT_DEPTH + 1).as_bytes(), Format::Xml),
        DEFAULT_DEPTH,
    );
    let xml = nested_extensions(9);
    assert!(parse_with(xml.as_bytes(), Format::Xml, &Limits { max_depth: 9 }).is_ok());
    assert_too_deep(
        parse_with(xml.as_bytes(), Format::Xml, &Limits { max_depth: 8 }),
        8,
    );
}

#[test]
fn deep_xml_narrative_is_refused() {
    // Patient 1, text 2, div 3: the levels below the div make up the rest
    let own = r#"<div xmlns="http://www.w3.org/1999/xhtml">"#;
    assert!(parse(
        nested_narrative(own, DEFAULT_DEPTH - 3).as_bytes(),
        Format::Xml
    )
    .is_ok());
    assert_too_deep(
        parse(
            nested_narrative(own, DEFAULT_DEPTH - 2).as_bytes(),
            Format::Xml,
        ),
        DEFAULT_DEPTH,
    );
    // a div that does not declare its namespace itself is left to fhirbolt: bounded too
    let prefixed = r#"<h:div xmlns:h="http://www.w3.org/1999/xhtml">"#;
    for div in [own, prefixed] {
        let xml = nested_narrative(div, 100_000);
        let started = Instant::now();
        assert_too_deep(
            on_small_stack(move || parse(xml.as_bytes(), Format::Xml)),
            DEFAULT_DEPTH,
        );
        assert!(started.elapsed() < Duration::from_secs(10), "{div}");
    }
}

#[test]
fn xml_narrative_may_not_run_script() {
    let xml = r#"<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p onclick="alert(1)">x</p></div></text></Patient>"#;
    let issues = xml_issues(xml);
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert_eq!(
        (issues[0].code, issues[0].expression.as_deref()),
        ("invariant", Some("Patient.text.div"))
    );
    assert!(
        issues[0].diagnostics.contains("'onclick'"),
        "{}",
        issues[0].diagnostics
    );
    let xml = r##"<Patient xmlns="http://hl7.org/fhir"><contained><Organization><id value="o"/><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">x<script>alert(1)</script></div></text></Organization></contained><managingOrganization><reference value="#o"/></managingOrganization></Patient>"##;
    let issues = xml_issues(xml);
    assert_eq!(
        issues[0].expression.as_deref(),
        Some("Patient.contained[0].text.div"),
        "{issues:#?}"
    );
    let xml = r#"<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/><h:div xmlns:h="http://www.w3.org/1999/xhtml">x<h:script>alert(1)</h:script></h:div></text></Patient>"#;
    assert!(parse(xml.as_bytes(), Format::Xml).is_err());
    let xml = r#"<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">  </div></text></Patient>"#;
    assert!(xml_issues(xml)[0].diagnostics.contains("txt-2"));
}

#[test]
fn xml_contained_and_bundle_rules() {
    let xml = r#"<Patient xmlns="http://hl7.org/fhir"><contained><Organization><id value="o"/><meta><versionId value="1"/></meta><name value="x"/></Organization></contained></Patient>"#;
    let issues = xml_issues(xml);
    let paths: Vec<_> = issues
        .iter()
        .filter_map(|i| i.expression.as_deref())
        .collect();
    assert_eq!(
        paths,
        vec![
            "Patient.contained[0].meta.versionId",
            "Patient.contained[0]"
        ]
    );
    let xml = r#"<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/><entry><fullUrl value="urn:uuid:1"/><resource><Patient><active value="true"/></Patient></resource></entry><entry><fullUrl value="urn:uuid:1"/><resource><Patient><active value="false"/></Patient></resource></entry></Bundle>"#;
    let issues = xml_issues(xml);
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert_eq!(
        issues[0].expression.as_deref(),
        Some("Bundle.entry[1].fullUrl")
    );
}
