//! Extraction of whole resources, written as the PZP record would hold them.

use serde_json::Value;

use super::{date_range, extract, IndexValue};

fn resource(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

/// The values extracted for `code`, in order.
fn values(resource: &Value, code: &str) -> Vec<IndexValue> {
    extract(resource)
        .into_iter()
        .filter(|e| e.code == code)
        .map(|e| e.value)
        .collect()
}

fn s(text: &str) -> Option<String> {
    Some(text.to_string())
}

fn token(system: Option<&str>, code: Option<&str>, display: Option<&str>) -> IndexValue {
    IndexValue::Token {
        system: system.map(str::to_string),
        code: code.map(str::to_string),
        display: display.map(str::to_string),
    }
}

fn code(code: &str) -> IndexValue {
    token(None, Some(code), None)
}

fn string(exact: &str, normalized: &str) -> IndexValue {
    IndexValue::String {
        normalized: normalized.to_string(),
        exact: exact.to_string(),
    }
}

fn reference(target_type: &str, target_id: &str) -> IndexValue {
    IndexValue::Reference {
        target_type: s(target_type),
        target_id: s(target_id),
        version: None,
        url: None,
        identifier_system: None,
        identifier_value: None,
    }
}

fn date(text: &str) -> IndexValue {
    let (low, high) = date_range(text).unwrap();
    IndexValue::Date { low, high }
}

fn uri(value: &str) -> IndexValue {
    IndexValue::Uri {
        value: value.to_string(),
    }
}

const PATIENT: &str = r#"{
  "resourceType": "Patient",
  "id": "pzp-patient-1",
  "meta": {
    "lastUpdated": "2024-05-01T12:00:00.123+02:00",
    "profile": ["http://fhir.nl/fhir/StructureDefinition/nl-core-Patient"],
    "source": "https://ehr.example.nl/fhir",
    "tag": [{"system": "http://example.nl/tags", "code": "pzp", "display": "PZP"}],
    "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}]
  },
  "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "999911120"}],
  "active": true,
  "name": [{
    "use": "official",
    "text": "Émile Ğürsel van der Meer",
    "family": "van der Meer",
    "_family": {"extension": [
      {"url": "http://hl7.org/fhir/StructureDefinition/humanname-own-prefix", "valueString": "van der"},
      {"url": "http://hl7.org/fhir/StructureDefinition/humanname-own-name", "valueString": "Meer"}
    ]},
    "given": ["Émile", "Ğürsel"],
    "prefix": ["Dr."]
  }],
  "telecom": [
    {"system": "phone", "value": "+31612345678", "use": "mobile"},
    {"system": "email", "value": "e.vandermeer@example.nl"}
  ],
  "gender": "male",
  "birthDate": "1941-05-17",
  "_birthDate": {"extension": [
    {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1941-05-17T08:30:00+01:00"}
  ]},
  "address": [{"line": ["Dorpsstraat 1"], "city": "Utrecht", "postalCode": "3511 AA", "country": "NL"}],
  "generalPractitioner": [{"reference": "Practitioner/huisarts-1", "display": "Dr. J. Jansen"}]
}"#;

#[test]
fn patient() {
    let p = resource(PATIENT);
    // Searched through the resources row, so no index rows.
    assert!(values(&p, "_id").is_empty() && values(&p, "_lastUpdated").is_empty());
    let (low, high) = date_range("2024-05-01T12:00:00.123+02:00").unwrap();
    assert_eq!(high - low, 999);
    assert_eq!(low, date_range("2024-05-01T10:00:00.123Z").unwrap().0);
    assert_eq!(
        values(&p, "_profile"),
        [uri(
            "http://fhir.nl/fhir/StructureDefinition/nl-core-Patient"
        )]
    );
    assert_eq!(values(&p, "_source"), [uri("https://ehr.example.nl/fhir")]);
    assert_eq!(
        values(&p, "_tag"),
        [token(
            Some("http://example.nl/tags"),
            Some("pzp"),
            Some("PZP")
        )]
    );
    assert_eq!(
        values(&p, "_security"),
        [token(
            Some("http://terminology.hl7.org/CodeSystem/v3-Confidentiality"),
            Some("N"),
            None
        )]
    );
    assert_eq!(
        values(&p, "identifier"),
        [token(
            Some("http://fhir.nl/fhir/NamingSystem/bsn"),
            Some("999911120"),
            None
        )]
    );
    assert_eq!(
        values(&p, "name"),
        [
            string("Émile Ğürsel van der Meer", "emile gursel van der meer"),
            string("van der Meer", "van der meer"),
            string("Émile", "emile"),
            string("Ğürsel", "gursel"),
            string("Dr.", "dr."),
        ]
    );
    assert_eq!(
        values(&p, "family"),
        [string("van der Meer", "van der meer")]
    );
    assert_eq!(
        values(&p, "given"),
        [string("Émile", "emile"), string("Ğürsel", "gursel")]
    );
    assert_eq!(values(&p, "birthdate"), [date("1941-05-17")]);
    assert_eq!(values(&p, "gender"), [code("male")]);
    assert_eq!(values(&p, "active"), [code("true")]);
    assert_eq!(values(&p, "deceased"), [code("false")]);
    assert_eq!(
        values(&p, "telecom"),
        [code("+31612345678"), code("e.vandermeer@example.nl")]
    );
    assert_eq!(values(&p, "phone"), [code("+31612345678")]);
    assert_eq!(values(&p, "email"), [code("e.vandermeer@example.nl")]);
    assert_eq!(values(&p, "address-city"), [string("Utrecht", "utrecht")]);
    assert_eq!(
        values(&p, "address-postalcode"),
        [string("3511 AA", "3511 aa")]
    );
    assert_eq!(
        values(&p, "address"),
        [
            string("Dorpsstraat 1", "dorpsstraat 1"),
            string("Utrecht", "utrecht"),
            string("3511 AA", "3511 aa"),
            string("NL", "nl"),
        ]
    );
    assert_eq!(
        values(&p, "general-practitioner"),
        [reference("Practitioner", "huisarts-1")]
    );
    assert!(values(&p, "death-date").is_empty());
}

#[test]
fn observation() {
    let o = resource(
        r#"{
          "resourceType": "Observation",
          "id": "weight-1",
          "status": "final",
          "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
          "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}], "text": "Gewicht"},
          "subject": {"reference": "Patient/pzp-patient-1"},
          "effectiveDateTime": "2020-03",
          "valueQuantity": {"value": 72.50, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}
        }"#,
    );
    let weight = [IndexValue::Quantity {
        value: "72.50".to_string(),
        system: s("http://unitsofmeasure.org"),
        code: s("kg"),
        unit: s("kg"),
    }];
    assert_eq!(values(&o, "value-quantity"), weight);
    assert_eq!(values(&o, "combo-value-quantity"), weight);
    assert!(values(&o, "value-concept").is_empty());
    let body_weight = [
        token(
            Some("http://loinc.org"),
            Some("29463-7"),
            Some("Body weight"),
        ),
        token(None, None, Some("Gewicht")),
    ];
    assert_eq!(values(&o, "code"), body_weight);
    assert_eq!(values(&o, "combo-code"), body_weight);
    assert_eq!(values(&o, "date"), [date("2020-03")]);
    let IndexValue::Date { low, high } = values(&o, "date")[0] else {
        unreachable!()
    };
    assert_eq!(
        (low, high),
        (
            date_range("2020-03-01").unwrap().0,
            date_range("2020-03-31").unwrap().1
        )
    );
    assert_eq!(
        values(&o, "patient"),
        [reference("Patient", "pzp-patient-1")]
    );
    assert_eq!(
        values(&o, "subject"),
        [reference("Patient", "pzp-patient-1")]
    );
    assert_eq!(
        values(&o, "category"),
        [token(
            Some("http://terminology.hl7.org/CodeSystem/observation-category"),
            Some("vital-signs"),
            None
        )]
    );
    assert_eq!(values(&o, "status"), [code("final")]);
    assert!(values(&o, "code-value-quantity").is_empty());
}

#[test]
fn consent() {
    let c = resource(
        r#"{
          "resourceType": "Consent",
          "id": "behandelgrens-1",
          "status": "active",
          "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}]},
          "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "11341000146107", "display": "Behandelgrens"}]}],
          "patient": {"reference": "Patient/pzp-patient-1"},
          "dateTime": "2023-11-02T14:30:00+01:00",
          "provision": {
            "period": {"start": "2023-11-02"},
            "actor": [{
              "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "HPOWATT"}]},
              "reference": {"reference": "RelatedPerson/vertegenwoordiger-1"}
            }]
          }
        }"#,
    );
    assert_eq!(
        values(&c, "actor"),
        [reference("RelatedPerson", "vertegenwoordiger-1")]
    );
    assert_eq!(
        values(&c, "scope"),
        [token(
            Some("http://terminology.hl7.org/CodeSystem/consentscope"),
            Some("treatment"),
            None
        )]
    );
    assert_eq!(
        values(&c, "category"),
        [token(
            Some("http://snomed.info/sct"),
            Some("11341000146107"),
            Some("Behandelgrens")
        )]
    );
    assert_eq!(
        values(&c, "patient"),
        [reference("Patient", "pzp-patient-1")]
    );
    assert_eq!(values(&c, "date"), [date("2023-11-02T13:30:00Z")]);
    let start = date_range("2023-11-02").unwrap().0;
    assert_eq!(
        values(&c, "period"),
        [IndexValue::Date {
            low: start,
            high: i64::MAX
        }]
    );
}

#[test]
fn device_use_statement() {
    let d = resource(
        r#"{
          "resourceType": "DeviceUseStatement",
          "id": "icd-1",
          "status": "active",
          "subject": {"reference": "Patient/pzp-patient-1"},
          "device": {"reference": "Device/icd-device-1", "display": "ICD"}
        }"#,
    );
    assert_eq!(values(&d, "device"), [reference("Device", "icd-device-1")]);
    assert_eq!(
        values(&d, "patient"),
        [reference("Patient", "pzp-patient-1")]
    );
    assert_eq!(
        values(&d, "subject"),
        [reference("Patient", "pzp-patient-1")]
    );
}

#[test]
fn encounter() {
    let e = resource(
        r##"{
          "resourceType": "Encounter",
          "id": "gesprek-1",
          "status": "finished",
          "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
          "contained": [{"resourceType": "RelatedPerson", "id": "rp"}],
          "subject": {"reference": "https://other.example.nl/fhir/Patient/p9/_history/3"},
          "participant": [{"individual": {"reference": "#rp"}}],
          "period": {"start": "2024-02-01T10:00:00+01:00", "end": "2024-02-01T11:00:00+01:00"},
          "reasonReference": [{"reference": "Procedure/pzp-gesprek"}]
        }"##,
    );
    assert_eq!(
        values(&e, "reason-reference"),
        [reference("Procedure", "pzp-gesprek")]
    );
    let absolute = [IndexValue::Reference {
        target_type: s("Patient"),
        target_id: s("p9"),
        version: s("3"),
        url: s("https://other.example.nl/fhir/Patient/p9/_history/3"),
        identifier_system: None,
        identifier_value: None,
    }];
    assert_eq!(values(&e, "patient"), absolute);
    assert_eq!(values(&e, "subject"), absolute);
    let contained = IndexValue::Reference {
        target_type: s("RelatedPerson"),
        target_id: None,
        version: None,
        url: s("#rp"),
        identifier_system: None,
        identifier_value: None,
    };
    assert_eq!(values(&e, "participant"), [contained]);
    assert!(values(&e, "practitioner").is_empty());
    assert_eq!(
        values(&e, "date"),
        [IndexValue::Date {
            low: date_range("2024-02-01T09:00:00Z").unwrap().0,
            high: date_range("2024-02-01T10:00:00Z").unwrap().1,
        }]
    );
    assert_eq!(
        values(&e, "class"),
        [token(
            Some("http://terminology.hl7.org/CodeSystem/v3-ActCode"),
            Some("AMB"),
            None
        )]
    );
}

#[test]
fn questionnaire_response() {
    let q = resource(
        r#"{
          "resourceType": "QuestionnaireResponse",
          "id": "acp-antwoorden-1",
          "status": "completed",
          "questionnaire": "https://x/Questionnaire/ACP|1.0.0",
          "subject": {"reference": "urn:uuid:0b1e8f4e-5c1a-4d2b-9e3f-2a6c7d8e9f01", "type": "Patient"},
          "author": {"identifier": {"system": "http://fhir.nl/fhir/NamingSystem/uzi-nr-pers", "value": "123456789"}},
          "authored": "2024-02-01"
        }"#,
    );
    assert_eq!(
        values(&q, "questionnaire"),
        [IndexValue::Reference {
            target_type: s("Questionnaire"),
            target_id: s("ACP"),
            version: s("1.0.0"),
            url: s("https://x/Questionnaire/ACP"),
            identifier_system: None,
            identifier_value: None,
        }]
    );
    let subject = [IndexValue::Reference {
        target_type: s("Patient"),
        target_id: None,
        version: None,
        url: s("urn:uuid:0b1e8f4e-5c1a-4d2b-9e3f-2a6c7d8e9f01"),
        identifier_system: None,
        identifier_value: None,
    }];
    assert_eq!(values(&q, "patient"), subject);
    assert_eq!(values(&q, "subject"), subject);
    assert_eq!(
        values(&q, "author"),
        [IndexValue::Reference {
            target_type: None,
            target_id: None,
            version: None,
            url: None,
            identifier_system: s("http://fhir.nl/fhir/NamingSystem/uzi-nr-pers"),
            identifier_value: s("123456789"),
        }]
    );
    assert_eq!(values(&q, "authored"), [date("2024-02-01")]);
}

#[test]
fn goal() {
    let g = resource(
        r#"{
          "resourceType": "Goal",
          "id": "doel-1",
          "lifecycleStatus": "active",
          "description": {
            "coding": [{"system": "http://snomed.info/sct", "code": "713148004", "display": "Comfort"}],
            "text": "Zo comfortabel mogelijk"
          },
          "subject": {"reference": "Patient/pzp-patient-1"},
          "startDate": "2024-01"
        }"#,
    );
    assert_eq!(
        values(&g, "description"),
        [
            token(
                Some("http://snomed.info/sct"),
                Some("713148004"),
                Some("Comfort")
            ),
            token(None, None, Some("Zo comfortabel mogelijk")),
        ]
    );
    assert_eq!(
        values(&g, "patient"),
        [reference("Patient", "pzp-patient-1")]
    );
    assert_eq!(values(&g, "lifecycle-status"), [code("active")]);
    assert_eq!(values(&g, "start-date"), [date("2024-01")]);
}

#[test]
fn communication_request_and_communication() {
    let r = resource(
        r#"{
          "resourceType": "CommunicationRequest",
          "id": "overdracht-1",
          "status": "active",
          "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "371530004", "display": "Clinical consultation report"}]}],
          "reasonCode": [{"text": "Bespreken behandelwensen"}],
          "subject": {"reference": "Patient/pzp-patient-1"},
          "occurrenceDateTime": "2024-03-05T09:00:00Z"
        }"#,
    );
    assert_eq!(
        values(&r, "category"),
        [token(
            Some("http://snomed.info/sct"),
            Some("371530004"),
            Some("Clinical consultation report")
        )]
    );
    assert_eq!(
        values(&r, "reason-code"),
        [token(None, None, Some("Bespreken behandelwensen"))]
    );
    assert_eq!(values(&r, "occurrence"), [date("2024-03-05T09:00:00Z")]);
    assert_eq!(
        values(&r, "patient"),
        [reference("Patient", "pzp-patient-1")]
    );

    let c = resource(
        r#"{
          "resourceType": "Communication",
          "id": "bericht-1",
          "status": "completed",
          "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "713603004"}]}],
          "sent": "2024-03-05T09:15:00+01:00"
        }"#,
    );
    assert_eq!(
        values(&c, "reason-code"),
        [token(
            Some("http://snomed.info/sct"),
            Some("713603004"),
            None
        )]
    );
    assert_eq!(values(&c, "sent"), [date("2024-03-05T08:15:00Z")]);
}

#[test]
fn bundle_composition_is_the_first_entry() {
    let b = resource(
        r#"{
          "resourceType": "Bundle",
          "id": "document-1",
          "type": "document",
          "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:6e8f7c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b"},
          "timestamp": "2024-03-05T09:00:00Z",
          "entry": [
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Composition", "id": "pzp-document"}},
            {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Patient", "id": "p"}}
          ]
        }"#,
    );
    assert_eq!(
        values(&b, "composition"),
        [reference("Composition", "pzp-document")]
    );
    assert!(values(&b, "message").is_empty());
    assert_eq!(values(&b, "type"), [code("document")]);
    assert_eq!(
        values(&b, "identifier"),
        [token(
            Some("urn:ietf:rfc:3986"),
            Some("urn:uuid:6e8f7c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b"),
            None
        )]
    );
}

#[test]
fn no_entries_without_a_known_resource_type() {
    assert!(extract(&resource(r#"{"id": "x"}"#)).is_empty());
    assert!(extract(&resource(r#"{"resourceType": "Basic", "id": "x"}"#)).is_empty());
}

#[test]
fn entries_are_unique() {
    let p = resource(PATIENT);
    let entries = extract(&p);
    for (i, e) in entries.iter().enumerate() {
        assert!(!entries[i + 1..].contains(e), "{e:?}");
    }
}
