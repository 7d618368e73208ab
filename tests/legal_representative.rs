//! IKNL ACP-Patient-1: a patient recorded as not legally capable needs a legal representative
//! (RelatedPerson with relationship 24). The write is accepted; the warning comes back in the
//! OperationOutcome (`Prefer: return=OperationOutcome`), in a transaction or batch entry's
//! `response.outcome`, and from `$validate`.

mod common;

use serde_json::{json, Value};

const ROLE_SYSTEM: &str = "urn:oid:2.16.840.1.113883.2.4.3.11.22.472";
const OO: &[(&str, &str)] = &[("Prefer", "return=OperationOutcome")];

fn capable(id: &str, patient: &str, when: &str, value: bool) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "665671000146101"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": when, "valueBoolean": value})
}

fn related(id: &str, patient: &str, code: &str) -> Value {
    json!({"resourceType": "RelatedPerson", "id": id,
        "patient": {"reference": format!("Patient/{patient}")},
        "relationship": [{"coding": [{"system": ROLE_SYSTEM, "code": code}]}],
        "name": [{"family": "Jansen"}]})
}

fn patient(id: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "name": [{"family": "de Vries"}]})
}

/// The ACP-Patient-1 warnings in an OperationOutcome, as (expression, diagnostics).
fn warnings(oo: &Value) -> Vec<(String, String)> {
    oo["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["severity"] == "warning")
        .map(|i| {
            (
                i["expression"][0].as_str().unwrap_or_default().to_string(),
                i["diagnostics"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn entry(id: &str, resource: Value) -> Value {
    let t = resource["resourceType"].as_str().unwrap().to_string();
    json!({"fullUrl": format!("urn:uuid:{id}"), "resource": resource,
           "request": {"method": "PUT", "url": format!("{t}/{}", resource["id"].as_str().unwrap())}})
}

backend_tests! {
    async fn not_legally_capable_without_representative_is_accepted_with_a_warning(app) {
        app.put_json("Patient/p1", &patient("p1")).await.expect(201);
        let r = app.put_json_with("Observation/lc1", &capable("lc1", "p1", "2025-10-01", false), OO).await;
        let oo = r.expect(201).json();
        assert_eq!(oo["resourceType"], "OperationOutcome");
        let w = warnings(&oo);
        assert_eq!(w.len(), 1, "{oo}");
        assert_eq!(w[0].0, "Observation.valueBoolean");
        assert!(w[0].1.starts_with("ACP-Patient-1: Patient/p1 is recorded as not legally capable"), "{}", w[0].1);
        assert!(w[0].1.contains("Observation/lc1") && w[0].1.contains("relationship 24"), "{}", w[0].1);
        assert_eq!(oo["issue"][0]["severity"], "information");
        // Stored all the same; the default answer is the resource itself.
        assert_eq!(app.get("Observation/lc1").await.expect(200).json()["valueBoolean"], false);
        let r = app.put_json("Observation/lc1", &capable("lc1", "p1", "2025-10-02", false)).await;
        assert_eq!(r.expect(200).json()["resourceType"], "Observation");

        // The patient's record raises it too, until a legal representative is recorded.
        let oo = app.put_json_with("Patient/p1", &patient("p1"), OO).await.expect(200).json();
        assert_eq!(warnings(&oo)[0].0, "Patient");
        // A contact person who is not the legal representative (01: first contact) does not count.
        let oo = app.put_json_with("RelatedPerson/r1", &related("r1", "p1", "01"), OO).await.expect(201).json();
        assert_eq!(warnings(&oo)[0].0, "RelatedPerson.relationship");
        let oo = app.put_json_with("RelatedPerson/r2", &related("r2", "p1", "24"), OO).await.expect(201).json();
        assert!(warnings(&oo).is_empty(), "{oo}");
        let oo = app.put_json_with("Patient/p1", &patient("p1"), OO).await.expect(200).json();
        assert!(warnings(&oo).is_empty(), "{oo}");
        // The representative is no longer one: the warning is back.
        let oo = app.put_json_with("RelatedPerson/r2", &related("r2", "p1", "01"), OO).await.expect(200).json();
        assert_eq!(warnings(&oo).len(), 1, "{oo}");
    }

    async fn only_the_latest_legal_capacity_counts(app) {
        app.put_json("Patient/p2", &patient("p2")).await.expect(201);
        let oo = app.put_json_with("Observation/a", &capable("a", "p2", "2025-01-01", true), OO).await.expect(201).json();
        assert!(warnings(&oo).is_empty(), "{oo}");
        let oo = app.put_json_with("Observation/b", &capable("b", "p2", "2025-06-01", false), OO).await.expect(201).json();
        assert_eq!(warnings(&oo).len(), 1);
        // Capable again later: no warning, also not when the older 'false' is rewritten.
        let oo = app.put_json_with("Observation/c", &capable("c", "p2", "2025-09-01", true), OO).await.expect(201).json();
        assert!(warnings(&oo).is_empty(), "{oo}");
        let oo = app.put_json_with("Observation/b", &capable("b", "p2", "2025-06-01", false), OO).await.expect(200).json();
        assert!(warnings(&oo).is_empty(), "{oo}");
        // Other patients are not affected.
        let oo = app.put_json_with("Patient/p3", &patient("p3"), OO).await.expect(201).json();
        assert!(warnings(&oo).is_empty(), "{oo}");
    }

    async fn validate_reports_the_warning_without_storing(app) {
        app.put_json("Patient/p4", &patient("p4")).await.expect(201);
        let r = app.post_json("Observation/$validate", &capable("v1", "p4", "2025-10-01", false)).await;
        let oo = r.expect(200).json();
        let w = warnings(&oo);
        assert_eq!(w.len(), 1, "{oo}");
        assert!(oo["issue"].as_array().unwrap().iter().all(|i| i["severity"] != "error"), "{oo}");
        app.get("Observation/v1").await.expect(404);
        // With the representative stored, the same resource validates clean.
        app.put_json("RelatedPerson/r4", &related("r4", "p4", "24")).await.expect(201);
        let oo = app.post_json("Observation/$validate", &capable("v1", "p4", "2025-10-01", false)).await.expect(200).json();
        assert_eq!(oo["issue"][0]["severity"], "information", "{oo}");
        assert!(warnings(&oo).is_empty());
    }

    async fn transactions_judge_the_warning_on_the_whole_bundle(app) {
        app.put_json("Patient/p5", &patient("p5")).await.expect(201);
        app.put_json("Patient/p7", &patient("p7")).await.expect(201);
        // Representative in the same transaction, after the observation: no warning.
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            entry("1", capable("t1", "p5", "2025-10-01", false)),
            entry("2", related("t2", "p5", "24")),
        ]});
        let b = app.post_json("", &bundle).await.expect(200).json();
        for e in b["entry"].as_array().unwrap() {
            assert!(e["response"].get("outcome").is_none(), "{e}");
        }
        // Without one: the observation's entry carries the warning, and it is stored.
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            entry("1", patient("p6")),
            entry("2", capable("t3", "p6", "2025-10-01", false)),
        ]});
        let b = app.post_json("", &bundle).await.expect(200).json();
        assert_eq!(warnings(&b["entry"][0]["response"]["outcome"])[0].0, "Patient");
        assert_eq!(warnings(&b["entry"][1]["response"]["outcome"])[0].0, "Observation.valueBoolean");
        assert_eq!(b["entry"][1]["response"]["status"], "201 Created");
        app.get("Observation/t3").await.expect(200);
        // A batch entry says it the same way.
        let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            entry("1", capable("t4", "p7", "2025-10-01", false)),
        ]});
        let b = app.post_json("", &bundle).await.expect(200).json();
        assert_eq!(warnings(&b["entry"][0]["response"]["outcome"]).len(), 1, "{b}");
    }
}
