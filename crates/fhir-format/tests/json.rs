//! Parsing and checking FHIR JSON.

use std::time::{Duration, Instant};

use fhir_format::{
    check, is_resource_type, parse, parse_with, resource_types, to_xml, Format, Issue, Limits,
    Severity,
};
use serde_json::{json, Value};

fn parse_str(text: &str) -> Result<Value, Vec<Issue>> {
    parse(text.as_bytes(), Format::Json)
}

fn issues(text: &str) -> Vec<Issue> {
    match parse_str(text) {
        Ok(_) => panic!("expected issues for {text}"),
        Err(issues) => issues,
    }
}

/// The single issue of an invalid document.
fn single_issue(text: &str) -> Issue {
    let found = issues(text);
    assert_eq!(found.len(), 1, "expected exactly one issue, got {found:#?}");
    found.into_iter().next().unwrap()
}

fn expressions(found: &[Issue]) -> Vec<&str> {
    found
        .iter()
        .filter_map(|i| i.expression.as_deref())
        .collect()
}

/// A Patient with one extension carrying `value<type>: value`.
fn extension_value(ty: &str, value: &str) -> String {
    format!(
        r#"{{"resourceType":"Patient","extension":[{{"url":"http://example.org/x","value{ty}":{value}}}]}}"#
    )
}

const VALID_PRIMITIVES: &[(&str, &str)] = &[
    ("Base64Binary", r#""SGVsbG8gd29ybGQ=""#),
    ("Boolean", "true"),
    ("Boolean", "false"),
    ("Canonical", r#""http://example.org/Questionnaire/q|1.0""#),
    ("Code", r#""final""#),
    ("Code", r#""two words""#),
    ("Date", r#""1941""#),
    ("Date", r#""1941-05""#),
    ("Date", r#""1941-05-17""#),
    ("Date", r#""2024-02-29""#),
    ("DateTime", r#""2020""#),
    ("DateTime", r#""2020-01-01""#),
    ("DateTime", r#""2020-01-01T10:00:00+01:00""#),
    ("DateTime", r#""2020-01-01T10:00:00.123Z""#),
    ("Decimal", "72.50"),
    ("Decimal", "-0.001"),
    ("Decimal", "1e3"),
    ("Decimal", "0"),
    ("Id", r#""abc-1.2""#),
    (
        "Id",
        r#""aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa""#,
    ),
    ("Instant", r#""2020-01-01T10:00:00.123Z""#),
    ("Instant", r#""2020-01-01T10:00:00-05:00""#),
    ("Integer", "-2147483648"),
    ("Integer", "2147483647"),
    ("Integer", "0"),
    ("Markdown", "\"# Title\\n\\n* item\""),
    ("Oid", r#""urn:oid:2.16.840.1.113883.2.4.6.3""#),
    ("PositiveInt", "1"),
    ("String", r#""Émile Ğüç 😀""#),
    ("String", "\"tab\\tand\\nnewline\""),
    ("Time", r#""10:00:00""#),
    ("Time", r#""23:59:60.5""#),
    ("UnsignedInt", "0"),
    ("Uri", r#""urn:ietf:rfc:3986""#),
    ("Url", r#""https://example.org/a?b=c""#),
    ("Uuid", r#""urn:uuid:c757873d-ec9a-4326-a141-556f43239520""#),
];

const INVALID_PRIMITIVES: &[(&str, &str)] = &[
    ("Base64Binary", r#""SGVsbG8""#),
    ("Base64Binary", r#""SGV$bG8=""#),
    ("Boolean", r#""true""#),
    ("Boolean", "1"),
    ("Canonical", r#""http://example.org/a b""#),
    ("Code", r#"" final""#),
    ("Code", r#""two  spaces""#),
    ("Code", "7"),
    ("Date", r#""17-05-1941""#),
    ("Date", r#""1941-5-17""#),
    ("Date", r#""1941-02-30""#),
    ("Date", r#""1941-05-17T10:00:00Z""#),
    ("Date", r#""0000""#),
    ("DateTime", r#""2020-01-01T10:00:00""#),
    ("DateTime", r#""2020-01-01T25:00:00Z""#),
    ("DateTime", r#""2020-01-01T10:00Z""#),
    ("DateTime", r#""2020-13""#),
    ("Decimal", r#""72.50""#),
    ("Decimal", "true"),
    ("Id", r#""abc def""#),
    ("Id", r#""a_b""#),
    (
        "Id",
        r#""aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa""#,
    ),
    ("Instant", r#""2020-01-01""#),
    ("Instant", r#""2020-01-01T10:00:00""#),
    ("Integer", "1.5"),
    ("Integer", "1.0"),
    ("Integer", "1e2"),
    ("Integer", "2147483648"),
    ("Integer", r#""5""#),
    ("Markdown", r#""   ""#),
    ("Oid", r#""urn:oid:1.02.3""#),
    ("Oid", r#""1.2.3""#),
    ("PositiveInt", "0"),
    ("PositiveInt", "-1"),
    ("String", r#""""#),
    ("String", r#""  \n ""#),
    ("String", r#""bell\u0007""#),
    ("String", "5"),
    ("String", r#"{"value":"x"}"#),
    ("Time", r#""10:00""#),
    ("Time", r#""24:00:00""#),
    ("Time", r#""10:00:00Z""#),
    ("UnsignedInt", "-1"),
    ("UnsignedInt", "2147483648"),
    ("Uri", r#""has space""#),
    ("Url", r#""http://x/\ty""#),
    ("Uuid", r#""urn:uuid:C757873D-EC9A-4326-A141-556F43239520""#),
    ("Uuid", r#""c757873d-ec9a-4326-a141-556f43239520""#),
];

#[test]
fn valid_primitives_are_accepted() {
    for (ty, value) in VALID_PRIMITIVES {
        let text = extension_value(ty, value);
        if let Err(issues) = parse_str(&text) {
            panic!("value{ty} = {value} rejected: {issues:#?}");
        }
    }
}

#[test]
fn invalid_primitives_are_rejected_with_path() {
    for (ty, value) in INVALID_PRIMITIVES {
        let text = extension_value(ty, value);
        let issue = match parse_str(&text) {
            Ok(_) => panic!("value{ty} = {value} accepted"),
            Err(mut issues) => {
                assert_eq!(issues.len(), 1, "value{ty} = {value}: {issues:#?}");
                issues.remove(0)
            }
        };
        let expected = format!("Patient.extension[0].value{ty}");
        assert_eq!(
            issue.expression.as_deref(),
            Some(expected.as_str()),
            "value{ty} = {value}"
        );
        assert_eq!(issue.severity, Severity::Error);
        assert_eq!(
            issue.code, "value",
            "value{ty} = {value}: {}",
            issue.diagnostics
        );
        assert!(
            issue.diagnostics.starts_with(&expected),
            "{}",
            issue.diagnostics
        );
    }
}

#[test]
fn birth_date_message_says_what_and_why() {
    let issue = single_issue(r#"{"resourceType":"Patient","birthDate":"17-05-1941"}"#);
    assert_eq!(issue.expression.as_deref(), Some("Patient.birthDate"));
    assert_eq!(issue.code, "value");
    assert_eq!(
        issue.diagnostics,
        "Patient.birthDate: '17-05-1941' is not a valid FHIR date (expected YYYY, YYYY-MM or YYYY-MM-DD)"
    );
}

#[test]
fn resource_id_is_checked_as_id() {
    let issue = single_issue(r#"{"resourceType":"Patient","id":"has space"}"#);
    assert_eq!(issue.expression.as_deref(), Some("Patient.id"));
    // element ids are plain strings
    assert!(
        parse_str(r#"{"resourceType":"Patient","name":[{"id":"any thing","family":"X"}]}"#).is_ok()
    );
}

#[test]
fn over_long_string_is_too_long() {
    let text =
        json!({"resourceType": "Patient", "name": [{"family": "x".repeat(1024 * 1024 + 1)}]})
            .to_string();
    let issue = single_issue(&text);
    assert_eq!(issue.code, "too-long");
    assert_eq!(issue.expression.as_deref(), Some("Patient.name[0].family"));
}

#[test]
fn unknown_element_has_path() {
    let issue =
        single_issue(r#"{"resourceType":"Patient","contact":[{"name":{"family":"A"},"foo":1}]}"#);
    assert_eq!(issue.code, "structure");
    assert_eq!(
        issue.diagnostics,
        "Unknown element 'foo' in Patient.contact[0]"
    );
    assert_eq!(issue.expression.as_deref(), Some("Patient.contact[0].foo"));
}

#[test]
fn unknown_element_suggests_spelling() {
    let issue = single_issue(r#"{"resourceType":"Patient","birthdate":"1941-05-17"}"#);
    assert!(
        issue.diagnostics.contains("did you mean 'birthDate'"),
        "{}",
        issue.diagnostics
    );
}

#[test]
fn empty_array_is_an_issue_not_a_panic() {
    // fhirbolt 0.4 panics on this input
    let issue = single_issue(r#"{"resourceType":"Patient","name":[]}"#);
    assert_eq!(issue.code, "value");
    assert_eq!(issue.expression.as_deref(), Some("Patient.name"));
}

#[test]
fn empty_and_null_values_are_rejected() {
    for (text, path) in [
        (
            r#"{"resourceType":"Patient","name":[{}]}"#,
            "Patient.name[0]",
        ),
        (
            r#"{"resourceType":"Patient","maritalStatus":{}}"#,
            "Patient.maritalStatus",
        ),
        (
            r#"{"resourceType":"Patient","gender":null}"#,
            "Patient.gender",
        ),
        (
            r#"{"resourceType":"Patient","name":[null]}"#,
            "Patient.name[0]",
        ),
        (
            r#"{"resourceType":"Patient","name":[{"given":["A",null]}]}"#,
            "Patient.name[0].given[1]",
        ),
        (
            r#"{"resourceType":"Patient","gender":""}"#,
            "Patient.gender",
        ),
        (
            r#"{"resourceType":"Patient","gender":"  "}"#,
            "Patient.gender",
        ),
    ] {
        let issue = single_issue(text);
        assert_eq!(issue.code, "value", "{text}");
        assert_eq!(issue.expression.as_deref(), Some(path), "{text}");
    }
}

#[test]
fn cardinality_shape_is_checked() {
    let issue = single_issue(r#"{"resourceType":"Patient","name":{"family":"A"}}"#);
    assert_eq!(
        (issue.code, issue.expression.as_deref()),
        ("structure", Some("Patient.name"))
    );
    let issue = single_issue(r#"{"resourceType":"Patient","gender":["male"]}"#);
    assert_eq!(
        (issue.code, issue.expression.as_deref()),
        ("structure", Some("Patient.gender"))
    );
    let issue = single_issue(r#"{"resourceType":"Patient","name":[{"given":"A"}]}"#);
    assert_eq!(issue.expression.as_deref(), Some("Patient.name[0].given"));
}

#[test]
fn complex_value_must_be_object() {
    let issue = single_issue(r#"{"resourceType":"Patient","maritalStatus":"married"}"#);
    assert_eq!(issue.code, "structure");
    assert_eq!(issue.expression.as_deref(), Some("Patient.maritalStatus"));
}

#[test]
fn minimum_cardinality_is_not_enforced() {
    // Questionnaire.item.linkId is 1..1 and Observation.code too; a later validator checks that
    assert!(parse_str(r#"{"resourceType":"Questionnaire","status":"draft","item":[{"type":"display","text":"x"}]}"#).is_ok());
    assert!(parse_str(r#"{"resourceType":"Observation","valueString":"x"}"#).is_ok());
    assert!(parse_str(r#"{"resourceType":"Patient"}"#).is_ok());
}

#[test]
fn all_issues_are_reported_at_once() {
    let found = issues(
        r#"{"resourceType":"Patient","id":"a b","birthDate":"x","gender":7,"foo":1,"name":[]}"#,
    );
    let mut paths = expressions(&found);
    paths.sort();
    assert_eq!(
        paths,
        vec![
            "Patient.birthDate",
            "Patient.foo",
            "Patient.gender",
            "Patient.id",
            "Patient.name"
        ]
    );
}

#[test]
fn issues_are_capped() {
    let given: Vec<Value> = (0..300).map(|_| json!("")).collect();
    let text = json!({"resourceType": "Patient", "name": [{"given": given}]}).to_string();
    let found = issues(&text);
    assert_eq!(found.len(), 101);
    let last = found.last().unwrap();
    assert_eq!(last.severity, Severity::Information);
    assert!(
        last.diagnostics.contains("200 further issues"),
        "{}",
        last.diagnostics
    );
}

#[test]
fn resource_type_is_checked() {
    let issue = single_issue(r#"{"resourceType":"Patients"}"#);
    assert_eq!(issue.code, "not-supported");
    assert!(issue.diagnostics.contains("Patients"));
    let issue = single_issue(r#"{"resourceType":"HumanName","family":"x"}"#);
    assert!(
        issue.diagnostics.contains("data type"),
        "{}",
        issue.diagnostics
    );
    let issue = single_issue(r#"{"resourceType":"DomainResource"}"#);
    assert_eq!(issue.code, "not-supported");
    let issue = single_issue(r#"{"name":[{"family":"x"}]}"#);
    assert_eq!(issue.code, "required");
    let issue = single_issue(r#"{"resourceType":7}"#);
    assert_eq!(issue.code, "structure");
    let issue = single_issue(r#"[{"resourceType":"Patient"}]"#);
    assert_eq!(issue.code, "structure");
    // R4B's SubscriptionStatus is not an R4 resource
    assert!(!is_resource_type("SubscriptionStatus"));
}

#[test]
fn resource_type_only_at_resource_root() {
    let issue = single_issue(
        r#"{"resourceType":"Patient","name":[{"resourceType":"HumanName","family":"x"}]}"#,
    );
    assert_eq!(issue.code, "structure");
    assert_eq!(
        issue.expression.as_deref(),
        Some("Patient.name[0].resourceType")
    );
}

#[test]
fn invalid_json_is_fatal() {
    let issue = single_issue(r#"{"resourceType":"Patient","#);
    assert_eq!(issue.severity, Severity::Fatal);
    assert!(issue.diagnostics.starts_with("invalid JSON"));
    assert!(parse(b"\xff\xfe", Format::Json).is_err());
}

#[test]
fn byte_order_mark_is_ignored() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(br#"{"resourceType":"Patient","active":true}"#);
    assert!(parse(&bytes, Format::Json).is_ok());
}

#[test]
fn duplicate_properties_are_rejected() {
    let issue = single_issue(r#"{"resourceType":"Patient","active":true,"active":false}"#);
    assert_eq!(issue.expression.as_deref(), Some("Patient"));
    assert!(issue.diagnostics.contains("'active'"));
}

#[test]
fn primitive_extensions() {
    let text = r#"{"resourceType":"Patient",
        "birthDate":"1941-05-17",
        "_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1941-05-17T14:35:45-05:00"}]},
        "name":[{"given":["Émile",null,"Ğ"],"_given":[null,{"extension":[{"url":"http://example.org/x","valueCode":"UNK"}]},{"id":"g3"}]}],
        "_gender":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}}"#;
    let value = parse_str(text).unwrap();
    assert_eq!(value["name"][0]["given"][0], "Émile");

    for (text, path) in [
        // misaligned arrays
        (
            r#"{"resourceType":"Patient","name":[{"given":["A","B"],"_given":[{"id":"x"}]}]}"#,
            "Patient.name[0].given",
        ),
        // null on both sides
        (
            r#"{"resourceType":"Patient","name":[{"given":["A",null],"_given":[null,null]}]}"#,
            "Patient.name[0].given[1]",
        ),
        // only id and extension
        (
            r#"{"resourceType":"Patient","birthDate":"1941","_birthDate":{"value":"x"}}"#,
            "Patient.birthDate",
        ),
        // object, not array, for a single element
        (
            r#"{"resourceType":"Patient","_birthDate":[{"id":"x"}]}"#,
            "Patient.birthDate",
        ),
        // not for complex elements
        (
            r#"{"resourceType":"Patient","_maritalStatus":{"id":"x"}}"#,
            "Patient._maritalStatus",
        ),
        (
            r#"{"resourceType":"Patient","_birthDate":{}}"#,
            "Patient.birthDate",
        ),
        // the extension inside is checked too
        (
            r#"{"resourceType":"Patient","_birthDate":{"extension":[{"url":"u","valueDate":"x"}]}}"#,
            "Patient.birthDate.extension[0].valueDate",
        ),
    ] {
        let found = issues(text);
        assert_eq!(expressions(&found), vec![path], "{text}: {found:#?}");
    }
}

#[test]
fn extension_rules() {
    let cases = [
        (
            r#"{"resourceType":"Patient","extension":[{"valueString":"x"}]}"#,
            "required",
        ),
        (
            r#"{"resourceType":"Patient","extension":[{"url":"u"}]}"#,
            "invalid",
        ),
        (
            r#"{"resourceType":"Patient","extension":[{"url":"u","valueString":"x","extension":[{"url":"v","valueCode":"c"}]}]}"#,
            "invalid",
        ),
        (
            r#"{"resourceType":"Patient","extension":[{"url":"u","valueString":"x","valueCode":"c"}]}"#,
            "structure",
        ),
        (
            r#"{"resourceType":"Patient","modifierExtension":[{"url":"u","valueFoo":"x"}]}"#,
            "structure",
        ),
    ];
    for (text, code) in cases {
        let issue = single_issue(text);
        assert_eq!(issue.code, code, "{text}: {issue:?}");
        assert!(issue.expression.unwrap().starts_with("Patient."), "{text}");
    }
    // nested extensions (complex extension) are fine
    assert!(parse_str(r#"{"resourceType":"Patient","extension":[{"url":"u","extension":[{"url":"a","valueString":"x"},{"url":"b","valueQuantity":{"value":1.50}}]}]}"#).is_ok());
}

#[test]
fn choice_elements() {
    assert!(parse_str(r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":72.50,"unit":"kg"}}"#).is_ok());
    let issue = single_issue(
        r#"{"resourceType":"Observation","valueQuantity":{"value":1},"valueString":"x"}"#,
    );
    assert_eq!(issue.code, "structure");
    assert!(
        issue.diagnostics.contains("value[x]"),
        "{}",
        issue.diagnostics
    );
    let issue = single_issue(
        r#"{"resourceType":"Observation","valueQuantity":{"value":1},"_valueString":{"id":"x"}}"#,
    );
    assert!(
        issue.diagnostics.contains("valueQuantity, valueString"),
        "{}",
        issue.diagnostics
    );
    assert!(parse_str(
        r#"{"resourceType":"Observation","valueString":"x","_valueString":{"id":"x"}}"#
    )
    .is_ok());
    let issue = single_issue(r#"{"resourceType":"Observation","value":"x"}"#);
    assert_eq!(issue.expression.as_deref(), Some("Observation.value"));
    let issue = single_issue(r#"{"resourceType":"Observation","valueQuantity":{"value":"72.5"}}"#);
    assert_eq!(
        issue.expression.as_deref(),
        Some("Observation.valueQuantity.value")
    );
}

#[test]
fn contained_resources_are_checked_with_their_own_type() {
    let ok = r##"{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"org1","name":"Huisartsenpraktijk Ğ"}],"managingOrganization":{"reference":"#org1"}}"##;
    assert!(parse_str(ok).is_ok());
    let issue = single_issue(
        r#"{"resourceType":"Patient","contained":[{"resourceType":"Organization","name":[]}]}"#,
    );
    assert_eq!(
        issue.expression.as_deref(),
        Some("Patient.contained[0].name")
    );
    let issue = single_issue(
        r#"{"resourceType":"Patient","contained":[{"resourceType":"Organization","birthDate":"1941"}]}"#,
    );
    assert_eq!(
        issue.expression.as_deref(),
        Some("Patient.contained[0].birthDate")
    );
    let issue = single_issue(r#"{"resourceType":"Patient","contained":[{"resourceType":"Nope"}]}"#);
    assert_eq!(
        (issue.code, issue.expression.as_deref()),
        ("not-supported", Some("Patient.contained[0]"))
    );
    let issue = single_issue(r#"{"resourceType":"Patient","contained":[{"id":"x"}]}"#);
    assert_eq!(issue.code, "required");
}

pub const TRANSACTION: &str = r#"{
  "resourceType": "Bundle",
  "type": "transaction",
  "entry": [
    {
      "fullUrl": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
      "resource": {
        "resourceType": "Patient",
        "name": [{"family": "Dubois", "given": ["Émile"]}],
        "birthDate": "1941-05-17"
      },
      "request": {"method": "POST", "url": "Patient"}
    },
    {
      "resource": {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"},
        "valueQuantity": {"value": 72.50, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}
      },
      "request": {"method": "PUT", "url": "Observation/weight-1"}
    }
  ]
}"#;

#[test]
fn transaction_bundle_with_request_after_resource() {
    let value = parse_str(TRANSACTION).unwrap();
    assert_eq!(value["entry"][1]["request"]["method"], "PUT");
    let text = TRANSACTION.replace("\"1941-05-17\"", "\"17-05-1941\"");
    let issue = single_issue(&text);
    assert_eq!(
        issue.expression.as_deref(),
        Some("Bundle.entry[0].resource.birthDate")
    );
    let text = TRANSACTION.replace(
        r#""resource": {
        "resourceType": "Observation""#,
        r#""resource": {
        "resourceType": "Observation", "foo": 1"#,
    );
    let issue = single_issue(&text);
    assert_eq!(
        issue.expression.as_deref(),
        Some("Bundle.entry[1].resource.foo")
    );
}

#[test]
fn parameters_resource() {
    let text = r#"{"resourceType":"Parameters","parameter":[{"name":"p","resource":{"resourceType":"Patient","active":true}},{"name":"n","valueInteger":3}]}"#;
    assert!(parse_str(text).is_ok());
    let issue = single_issue(&text.replace("\"active\":true", "\"active\":\"yes\""));
    assert_eq!(
        issue.expression.as_deref(),
        Some("Parameters.parameter[0].resource.active")
    );
}

#[test]
fn content_references_recurse() {
    let text = r#"{"resourceType":"Questionnaire","status":"active","item":[{"linkId":"1","type":"group","item":[{"linkId":"1.1","type":"group","item":[{"linkId":"1.1.1","type":"string","foo":true}]}]}]}"#;
    let issue = single_issue(text);
    assert_eq!(
        issue.expression.as_deref(),
        Some("Questionnaire.item[0].item[0].item[0].foo")
    );
}

#[test]
fn narrative_div() {
    let ok = r#"{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Émile &amp; <b>Ğ</b></p></div>"}}"#;
    assert!(parse_str(ok).is_ok());
    for div in [
        r#""<p>x</p>""#,
        r#""<div>no namespace</div>""#,
        r#""<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x</div>""#,
        r#""<div xmlns=\"http://www.w3.org/1999/xhtml\">&nbsp;</div>""#,
        r#"{"p":"x"}"#,
    ] {
        let text =
            format!(r#"{{"resourceType":"Patient","text":{{"status":"generated","div":{div}}}}}"#);
        let issue = single_issue(&text);
        assert_eq!(
            issue.expression.as_deref(),
            Some("Patient.text.div"),
            "{div}"
        );
    }
}

#[test]
fn decimals_keep_their_text() {
    let text = r#"{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueQuantity":{"value":72.50},"component":[{"code":{"text":"x"},"valueQuantity":{"value":100.000}}]}"#;
    let value = parse_str(text).unwrap();
    let out = String::from_utf8(fhir_format::to_json(&value, false)).unwrap();
    assert_eq!(out, text);
}

#[test]
fn json_output_keeps_order_and_unicode() {
    let text =
        r#"{"resourceType":"Patient","name":[{"given":["Émile"],"family":"Ğüneş"}],"active":true}"#;
    let value = parse_str(text).unwrap();
    assert_eq!(
        String::from_utf8(fhir_format::to_json(&value, false)).unwrap(),
        text
    );
    let pretty = String::from_utf8(fhir_format::to_json(&value, true)).unwrap();
    assert!(pretty.contains("\n  \"name\""));
    assert_eq!(serde_json::from_str::<Value>(&pretty).unwrap(), value);
}

#[test]
fn check_validates_edited_values() {
    let mut value = parse_str(r#"{"resourceType":"Patient","active":true}"#).unwrap();
    assert!(check(&value).is_empty());
    value["meta"] = json!({"versionId": "1", "lastUpdated": "2024-01-01T00:00:00Z"});
    assert!(check(&value).is_empty());
    value["meta"]["lastUpdated"] = json!("2024-01-01");
    let found = check(&value);
    assert_eq!(expressions(&found), vec!["Patient.meta.lastUpdated"]);
    assert!(!check(&json!({"resourceType": "Patient", "name": []})).is_empty());
}

#[test]
fn resource_type_list() {
    let types = resource_types();
    assert_eq!(types.len(), 146);
    assert!(types.windows(2).all(|w| w[0] < w[1]));
    for name in [
        "Patient",
        "Bundle",
        "Parameters",
        "Binary",
        "QuestionnaireResponse",
        "Consent",
    ] {
        assert!(is_resource_type(name), "{name}");
    }
    for name in ["patient", "Resource", "DomainResource", "HumanName", ""] {
        assert!(!is_resource_type(name), "{name}");
    }
}

#[test]
fn issue_display() {
    let issue = single_issue(r#"{"resourceType":"Patient","active":"yes"}"#);
    assert_eq!(
        issue.to_string(),
        "error (value): Patient.active: expected a JSON boolean (true or false), got string 'yes'"
    );
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

/// A Patient whose extensions nest `levels` objects deep (the Patient being the first).
fn nested_extensions(levels: usize) -> String {
    let open = r#""extension":[{"url":"http://example.org/nest","#;
    let mut text = String::from(r#"{"resourceType":"Patient","#);
    text.push_str(&open.repeat(levels - 1));
    text.push_str(r#""valueString":"deepest""#);
    text.push_str(&"}]".repeat(levels - 1));
    text.push('}');
    text
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
fn deep_json_is_refused_quickly_on_a_small_stack() {
    for levels in [640, 100_000] {
        let text = nested_extensions(levels);
        let started = Instant::now();
        let result = on_small_stack(move || parse(text.as_bytes(), Format::Json));
        assert_too_deep(result, DEFAULT_DEPTH);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{levels} levels"
        );
    }
    let arrays = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_too_deep(
        on_small_stack(move || parse(arrays.as_bytes(), Format::Json)),
        DEFAULT_DEPTH,
    );
}

#[test]
fn json_at_the_depth_limit_is_accepted_on_a_small_stack() {
    let text = nested_extensions(DEFAULT_DEPTH);
    let value = on_small_stack(move || {
        let value = parse(text.as_bytes(), Format::Json).unwrap_or_else(|e| panic!("{e:#?}"));
        to_xml(&value, false).unwrap_or_else(|e| panic!("{e}"));
        value
    });
    assert!(check(&value).is_empty());
    assert_too_deep(
        parse(
            nested_extensions(DEFAULT_DEPTH + 1).as_bytes(),
            Format::Json,
        ),
        DEFAULT_DEPTH,
    );
}

#[test]
fn parse_with_takes_the_limit() {
    let text = nested_extensions(9);
    assert!(parse(text.as_bytes(), Format::Json).is_ok());
    assert!(parse_with(text.as_bytes(), Format::Json, &Limits { max_depth: 9 }).is_ok());
    assert_too_deep(
        parse_with(text.as_bytes(), Format::Json, &Limits { max_depth: 8 }),
        8,
    );
    assert_eq!(Limits::default().max_depth, DEFAULT_DEPTH);
}

#[test]
fn deep_narrative_counts_towards_the_depth() {
    // Patient 1, text 2, div 3: the levels below the div make up the rest
    let div = |levels: usize| {
        format!(
            r#"<div xmlns=\"http://www.w3.org/1999/xhtml\">{}x{}</div>"#,
            "<b>".repeat(levels),
            "</b>".repeat(levels)
        )
    };
    let patient = |levels: usize| {
        format!(
            r#"{{"resourceType":"Patient","text":{{"status":"generated","div":"{}"}}}}"#,
            div(levels)
        )
    };
    assert!(parse_str(&patient(DEFAULT_DEPTH - 3)).is_ok());
    assert_too_deep(parse_str(&patient(DEFAULT_DEPTH - 2)), DEFAULT_DEPTH);
    let text = patient(100_000);
    assert_too_deep(
        on_small_stack(move || parse(text.as_bytes(), Format::Json)),
        DEFAULT_DEPTH,
    );
}

/// Take the nested extensions apart one level at a time: dropping a deep value at once
/// recurses.
fn dismantle(mut value: Value) {
    while let Some(inner) = value
        .get_mut("extension")
        .and_then(|e| e.get_mut(0))
        .map(Value::take)
    {
        value = inner;
    }
}

#[test]
fn check_and_to_xml_refuse_deep_values_without_recursing() {
    // built by hand: json!'s interpolation serialises the value, recursively
    let mut value = json!({"url": "http://example.org/nest", "valueString": "deepest"});
    for _ in 0..100_000 {
        let mut outer = serde_json::Map::new();
        outer.insert("url".into(), json!("http://example.org/nest"));
        outer.insert("extension".into(), Value::Array(vec![value]));
        value = Value::Object(outer);
    }
    value["resourceType"] = json!("Patient");
    value.as_object_mut().unwrap().remove("url");
    let (found, xml, value) = on_small_stack(move || {
        let found = check(&value);
        let xml = to_xml(&value, false);
        (found, xml, value)
    });
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].code, "too-long");
    assert_eq!(xml.unwrap_err().code, "too-long");
    dismantle(value);
}

/// A Patient with the narrative `div` (raw XHTML, JSON-escaped here).
fn with_narrative(div: &str) -> String {
    json!({"resourceType": "Patient", "text": {"status": "generated", "div": div}}).to_string()
}

const XHTML: &str = r#"xmlns="http://www.w3.org/1999/xhtml""#;

#[test]
fn narrative_may_not_run_script_txt_1() {
    for (inner, named) in [
        ("<script>alert(1)</script>", "'script'"),
        ("<p onclick=\"alert(1)\">x</p>", "'onclick'"),
        ("<img src=\"a.png\" onerror=\"alert(1)\"/>", "'onerror'"),
        ("<p ONMOUSEOVER=\"alert(1)\">x</p>", "'ONMOUSEOVER'"),
        ("<a href=\"javascript:alert(1)\">x</a>", "javascript:"),
        ("<a href=\" JavaScript:alert(1)\">x</a>", "javascript:"),
        ("<a href=\"java&#x09;script:alert(1)\">x</a>", "javascript:"),
        ("<a href=\"&#106;avascript:alert(1)\">x</a>", "javascript:"),
        ("<a href=\"vbscript:msgbox(1)\">x</a>", "vbscript:"),
        ("<a href=\"data:text/html,alert(1)\">x</a>", "data:"),
        ("<img src=\"data:image/svg+xml;base64,PHN2Zz4=\"/>", "data:"),
        ("<iframe src=\"http://example.org/\"></iframe>", "'iframe'"),
        ("<frame src=\"http://example.org/\"/>", "'frame'"),
        ("<object data=\"x.swf\"></object>", "'object'"),
        ("<embed src=\"x.swf\"/>", "'embed'"),
        ("<form action=\"http://example.org/\"><input name=\"q\"/></form>", "'form'"),
        ("<input name=\"q\"/>", "'input'"),
        ("<base href=\"http://example.org/\"/>", "'base'"),
        ("<link rel=\"stylesheet\" href=\"http://example.org/s.css\"/>", "'link'"),
        ("<meta http-equiv=\"refresh\" content=\"0\"/>", "'meta'"),
        ("<style>p {color: red}</style>", "'style'"),
        ("<head><title>x</title></head>", "'head'"),
        ("<body>x</body>", "'body'"),
        ("<p style=\"width: expression(alert(1))\">x</p>", "expression("),
        ("<p style=\"background: url(javascript:alert(1))\">x</p>", "javascript:"),
        ("<p style=\"background: url(java\\73 cript:alert(1))\">x</p>", "'\\'"),
        ("<a xmlns:xlink=\"http://www.w3.org/1999/xlink\" xlink:href=\"http://example.org/\">x</a>", "'xmlns:xlink'"),
        ("<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>", "'svg'"),
        ("<p><blink>x</blink></p>", "'blink'"),
        ("<p foo=\"bar\">x</p>", "'foo'"),
    ] {
        let text = with_narrative(&format!("<div {XHTML}>text {inner}</div>"));
        let issue = single_issue(&text);
        assert_eq!(issue.severity, Severity::Error, "{inner}");
        assert_eq!(issue.code, "invariant", "{inner}: {}", issue.diagnostics);
        assert_eq!(issue.expression.as_deref(), Some("Patient.text.div"), "{inner}");
        assert!(issue.diagnostics.contains(named), "{inner}: {}", issue.diagnostics);
        assert!(issue.diagnostics.contains("txt-1"), "{inner}: {}", issue.diagnostics);
        assert!(!issue.diagnostics.contains("alert"), "{}", issue.diagnostics);
    }
}

#[test]
fn legitimate_narrative_is_accepted() {
    for inner in [
        "<table class=\"grid\" border=\"1\"><thead><tr><th colspan=\"2\">Name</th></tr></thead><tbody><tr><td>Peter</td><td style=\"color: red; font-weight: bold\">James</td></tr></tbody></table>",
        "<p id=\"a1\" lang=\"nl\" xml:lang=\"nl\">Émile &amp; <b>Ğ</b> &#160;<br/></p>",
        "<a href=\"http://example.org/a?b=c\">web</a> <a href=\"mailto:gastro@acme.org\">mail</a> <a href=\"genomics.html#hla\">page</a> <a href=\"#a1\">anchor</a> <a name=\"a2\">target</a>",
        "<img src=\"#pic\" alt=\"picture\"/> <img src=\"pkb.png\"/> <img src=\"data:image/png;base64,iVBORw0KGgo=\" alt=\"dot\"/>",
        "<ul><li>one</li></ul><ol start=\"2\"><li>two</li></ol><dl><dt>t</dt><dd>d</dd></dl><blockquote cite=\"http://example.org/\">q</blockquote><pre>  x</pre><h3>h</h3><span>s</span><!-- comment -->",
    ] {
        let text = with_narrative(&format!("<div {XHTML}>{inner}</div>"));
        if let Err(found) = parse_str(&text) {
            panic!("{inner}: {found:#?}");
        }
    }
}

#[test]
fn narrative_must_have_content_txt_2() {
    for div in [
        format!("<div {XHTML}/>"),
        format!("<div {XHTML}> \n\t </div>"),
        format!("<div {XHTML}>\n  <pre>\n  </pre>\n</div>"),
        format!("<div {XHTML}><p><!-- only a comment --></p></div>"),
    ] {
        let issue = single_issue(&with_narrative(&div));
        assert_eq!(
            (issue.code, issue.expression.as_deref()),
            ("invariant", Some("Patient.text.div")),
            "{div}"
        );
        assert!(issue.diagnostics.contains("txt-2"), "{}", issue.diagnostics);
    }
    // an image is content too
    assert!(parse_str(&with_narrative(&format!(
        "<div {XHTML}><img src=\"#pic\"/></div>"
    )))
    .is_ok());
}

#[test]
fn narrative_rules_apply_to_contained_and_entry_resources() {
    let script = format!("<div {XHTML}>x<script>alert(1)</script></div>");
    let text = json!({"resourceType": "Patient",
        "contained": [{"resourceType": "Organization", "id": "o", "text": {"status": "generated", "div": script}}],
        "managingOrganization": {"reference": "#o"}})
    .to_string();
    assert_eq!(
        single_issue(&text).expression.as_deref(),
        Some("Patient.contained[0].text.div")
    );
    let text = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "active": true}},
        {"resource": {"resourceType": "Patient", "text": {"status": "generated", "div": script}}}]})
    .to_string();
    assert_eq!(
        single_issue(&text).expression.as_deref(),
        Some("Bundle.entry[1].resource.text.div")
    );
}

#[test]
fn contained_resources_hold_no_resources_versions_or_labels_dom_2_4_5() {
    let text = json!({"resourceType": "Patient",
        "contained": [{"resourceType": "Organization", "id": "o",
            "meta": {"versionId": "2", "lastUpdated": "2024-01-01T00:00:00Z",
                "security": [{"code": "R"}], "tag": [{"code": "t"}]},
            "contained": [{"resourceType": "Organization", "id": "o2", "name": "x"}],
            "partOf": {"reference": "#o2"}}],
        "managingOrganization": {"reference": "#o"}})
    .to_string();
    let found = issues(&text);
    assert_eq!(
        expressions(&found),
        vec![
            "Patient.contained[0].contained",
            "Patient.contained[0].meta.versionId",
            "Patient.contained[0].meta.lastUpdated",
            "Patient.contained[0].meta.security",
        ]
    );
    assert!(found
        .iter()
        .all(|i| i.severity == Severity::Error && i.code == "invariant"));
    for (issue, rule) in found.iter().zip(["dom-2", "dom-4", "dom-4", "dom-5"]) {
        assert!(issue.diagnostics.contains(rule), "{}", issue.diagnostics);
    }
}

#[test]
fn contained_resources_must_be_referenced_dom_3() {
    let unreferenced = json!({"resourceType": "Patient",
        "contained": [{"resourceType": "Organization", "id": "o", "name": "x"}]});
    let issue = single_issue(&unreferenced.to_string());
    assert_eq!(
        (issue.code, issue.expression.as_deref()),
        ("invariant", Some("Patient.contained[0]"))
    );
    assert!(issue.diagnostics.contains("dom-3"), "{}", issue.diagnostics);
    let in_entry = json!({"resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": unreferenced}]});
    assert_eq!(
        single_issue(&in_entry.to_string()).expression.as_deref(),
        Some("Bundle.entry[0].resource.contained[0]")
    );
    for ok in [
        // referenced from the container, from an extension, from another contained resource
        json!({"resourceType": "Patient", "contained": [{"resourceType": "Organization", "id": "o", "name": "x"}],
            "managingOrganization": {"reference": "#o"}}),
        json!({"resourceType": "Patient", "contained": [{"resourceType": "Organization", "id": "o", "name": "x"}],
            "extension": [{"url": "http://example.org/x", "valueReference": {"reference": "#o"}}]}),
        json!({"resourceType": "Patient", "contained": [
            {"resourceType": "Organization", "id": "o", "name": "x"},
            {"resourceType": "Organization", "id": "p", "partOf": {"reference": "#o"}}],
            "managingOrganization": {"reference": "#p"}}),
        // a canonical
        json!({"resourceType": "Questionnaire", "status": "draft",
            "contained": [{"resourceType": "ValueSet", "id": "vs", "status": "draft"}],
            "item": [{"linkId": "1", "type": "choice", "answerValueSet": "#vs"}]}),
        // referring to the container
        json!({"resourceType": "Patient", "id": "p1",
            "contained": [{"resourceType": "Provenance", "id": "prov", "recorded": "2024-01-01T00:00:00Z",
                "target": [{"reference": "#"}], "agent": [{"who": {"display": "x"}}]}]}),
        // no id: the rule does not apply
        json!({"resourceType": "Patient", "contained": [{"resourceType": "Organization", "name": "x"}]}),
    ] {
        if let Err(found) = parse_str(&ok.to_string()) {
            panic!("{ok}: {found:#?}");
        }
    }
}

#[test]
fn full_urls_are_unique_in_a_bundle_bdl_7() {
    let bundle = |kind: &str, versions: [Option<&str>; 3]| {
        let entries: Vec<Value> = versions
            .iter()
            .enumerate()
            .map(|(i, version)| {
                let mut resource = json!({"resourceType": "Patient", "active": true});
                if let Some(version) = version {
                    resource["meta"] = json!({"versionId": version});
                }
                let url = if i == 1 { "urn:uuid:2" } else { "urn:uuid:1" };
                json!({"fullUrl": url, "resource": resource})
            })
            .collect();
        json!({"resourceType": "Bundle", "type": kind, "entry": entries}).to_string()
    };
    let issue = single_issue(&bundle("collection", [None, None, None]));
    assert_eq!(
        (issue.code, issue.expression.as_deref()),
        ("invariant", Some("Bundle.entry[2].fullUrl"))
    );
    assert!(
        issue.diagnostics.contains("entry[0]"),
        "{}",
        issue.diagnostics
    );
    assert!(issue.diagnostics.contains("bdl-7"), "{}", issue.diagnostics);
    let issue = single_issue(&bundle("searchset", [Some("1"), None, Some("1")]));
    assert_eq!(issue.expression.as_deref(), Some("Bundle.entry[2].fullUrl"));
    assert!(parse_str(&bundle("collection", [Some("1"), None, Some("2")])).is_ok());
    assert!(parse_str(&bundle("history", [None, None, None])).is_ok());
}
