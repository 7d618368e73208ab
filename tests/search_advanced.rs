//! Search beyond plain parameters: `:missing`, `:in`/`:not-in`, `:of-type`, reverse chaining
//! (`_has`), `_include:iterate`/`_revinclude:iterate`, `_sort` with paging, `_summary` and
//! `_elements`.

mod common;

use common::*;
use serde_json::{json, Value};

const SCT: &str = "http://snomed.info/sct";
const LOINC: &str = "http://loinc.org";

fn observation(id: &str, patient: &str, system: &str, code: &str, date: Option<&str>) -> Value {
    let mut o = json!({"resourceType": "Observation", "id": id, "status": "final",
        "subject": {"reference": format!("Patient/{patient}")},
        "code": {"coding": [{"system": system, "code": code}]}});
    if let Some(d) = date {
        o["effectiveDateTime"] = json!(d);
    }
    o
}

async fn load(app: &TestApp) {
    app.put_all(vec![
        json!({"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-02-03",
               "name": [{"family": "Bakker"}],
               "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                               "system": "urn:oid:2.16.840.1.113883.2.4.6.3", "value": "12345"}],
               "generalPractitioner": [{"reference": "PractitionerRole/r1"}]}),
        json!({"resourceType": "Patient", "id": "p2", "name": [{"family": "de Vries"}], "birthDate": "1941"}),
        json!({"resourceType": "Patient", "id": "p3", "gender": "male", "name": [{"family": "Akkerman"}],
               "identifier": [{"system": "urn:oid:2.16.840.1.113883.2.4.6.3", "value": "12345"}]}),
        json!({"resourceType": "Practitioner", "id": "dr", "name": [{"family": "Huisarts"}]}),
        json!({"resourceType": "PractitionerRole", "id": "r1", "practitioner": {"reference": "Practitioner/dr"}}),
        observation("o1", "p1", SCT, "89666000", Some("2024-05-01")),
        observation("o2", "p1", LOINC, "29463-7", Some("2022-01-01")),
        observation("o3", "p2", SCT, "305351004", None),
        observation("o4", "p3", LOINC, "8302-2", Some("2023-07-15")),
        json!({"resourceType": "ValueSet", "id": "vs-limits", "url": "https://example.org/ValueSet/limits", "status": "active",
               "version": "2",
               "compose": {"include": [{"system": SCT, "concept": [{"code": "89666000"}, {"code": "305351004"}]}]}}),
        json!({"resourceType": "ValueSet", "id": "vs-loinc", "url": "https://example.org/ValueSet/all-loinc", "status": "active",
               "compose": {"include": [{"system": LOINC}], "exclude": [{"system": LOINC, "concept": [{"code": "8302-2"}]}]}}),
        json!({"resourceType": "ValueSet", "id": "vs-expanded", "url": "https://example.org/ValueSet/expanded", "status": "active",
               "expansion": {"timestamp": "2026-01-01T00:00:00Z",
                             "contains": [{"system": LOINC, "code": "8302-2"}]}}),
        json!({"resourceType": "ValueSet", "id": "vs-filter", "url": "https://example.org/ValueSet/filtered", "status": "active",
               "compose": {"include": [{"system": SCT, "filter": [{"property": "concept", "op": "is-a", "value": "1"}]}]}}),
    ]).await;
}

/// Match ids of a search, in the order returned.
async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    let b = app.get(query).await.expect(200).json();
    matches(&b)
}

fn matches(b: &Value) -> Vec<String> {
    b["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["search"]["mode"] == "match")
                .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn included(b: &Value) -> Vec<String> {
    let mut v: Vec<String> = b["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["search"]["mode"] == "include")
                .map(|e| path_of(&e["resource"]))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

backend_tests! {
    async fn missing_modifier_on_each_index(app) {
        load(&app).await;
        assert_eq!(ids(&app, "Patient?gender:missing=true").await, ["p2"]);
        assert_eq!(ids(&app, "Patient?gender:missing=false").await, ["p1", "p3"]);
        assert_eq!(ids(&app, "Patient?birthdate:missing=true").await, ["p3"]);
        assert_eq!(ids(&app, "Patient?general-practitioner:missing=false").await, ["p1"]);
        assert_eq!(ids(&app, "Observation?date:missing=true").await, ["o3"]);
        assert_eq!(ids(&app, "Patient?family:missing=false&gender:missing=true").await, ["p2"]);
        app.get("Patient?gender:missing=maybe").await.expect(400);
    }

    async fn in_and_not_in_expand_value_sets_held_by_the_server(app) {
        load(&app).await;
        let url = "https://example.org/ValueSet/limits";
        assert_eq!(ids(&app, &format!("Observation?code:in={url}")).await, ["o1", "o3"]);
        assert_eq!(ids(&app, &format!("Observation?code:in={url}|2")).await, ["o1", "o3"]);
        app.get(&format!("Observation?code:in={url}|1")).await.expect(400);
        assert_eq!(ids(&app, &format!("Observation?code:not-in={url}")).await, ["o2", "o4"]);
        // A whole code system minus an exclusion, and a stored expansion.
        assert_eq!(ids(&app, "Observation?code:in=https://example.org/ValueSet/all-loinc").await, ["o2"]);
        assert_eq!(ids(&app, "Observation?code:in=https://example.org/ValueSet/expanded").await, ["o4"]);
        // Through a chain: Patients with an observation in the value set.
        assert_eq!(ids(&app, &format!("Patient?_has:Observation:subject:code:in={url}")).await, ["p1", "p2"]);
        let r = app.get("Observation?code:in=https://example.org/ValueSet/unknown").await.expect(400);
        assert!(r.issue().1.contains("not held"), "{}", r.text());
        let r = app.get("Observation?code:in=https://example.org/ValueSet/filtered").await.expect(400);
        assert_eq!(r.issue().0, "not-supported");
    }

    async fn of_type_matches_identifier_type_and_value(app) {
        load(&app).await;
        let mr = "http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345";
        assert_eq!(ids(&app, &format!("Patient?identifier:of-type={mr}")).await, ["p1"]);
        assert_eq!(ids(&app, "Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|999").await.len(), 0);
        // The extra index rows do not change ordinary identifier search.
        assert_eq!(ids(&app, "Patient?identifier=12345").await, ["p1", "p3"]);
        assert_eq!(ids(&app, "Patient?identifier=urn:oid:2.16.840.1.113883.2.4.6.3|12345").await, ["p1", "p3"]);
        app.get("Patient?identifier:of-type=MR|12345").await.expect(400);
    }

    async fn reverse_chaining_with_has(app) {
        load(&app).await;
        assert_eq!(ids(&app, &format!("Patient?_has:Observation:subject:code={SCT}|89666000")).await, ["p1"]);
        assert_eq!(ids(&app, "Patient?_has:Observation:patient:date=ge2023").await, ["p1", "p3"]);
        // Nested: practitioners in a role that a patient named as GP.
        assert_eq!(ids(&app, "Practitioner?_has:PractitionerRole:practitioner:_has:Patient:general-practitioner:family=bakker").await, ["dr"]);
        assert_eq!(ids(&app, "Practitioner?_has:PractitionerRole:practitioner:_has:Patient:general-practitioner:family=vries").await.len(), 0);
        app.get("Patient?_has:Observation:code:code=1").await.expect(400);
        app.get("Patient?_has:Observation").await.expect(400);
        app.get("Patient?_has:Nope:subject:code=1").await.expect(400);
    }

    async fn include_and_revinclude_iterate(app) {
        load(&app).await;
        let b = app.get("Observation?code=89666000&_include=Observation:subject&_include:iterate=Patient:general-practitioner&_include:iterate=PractitionerRole:practitioner").await.expect(200).json();
        assert_eq!(matches(&b), ["o1"]);
        assert_eq!(included(&b), ["Patient/p1", "Practitioner/dr", "PractitionerRole/r1"]);
        // Without :iterate only the first step is taken.
        let b = app.get("Observation?code=89666000&_include=Observation:subject&_include=Patient:general-practitioner").await.expect(400);
        assert!(b.text().contains("does not start from Observation"));
        let b = app.get("Practitioner?_id=dr&_revinclude=PractitionerRole:practitioner&_revinclude:iterate=Patient:general-practitioner&_revinclude:iterate=Observation:subject").await.expect(200).json();
        assert_eq!(included(&b), ["Observation/o1", "Observation/o2", "Patient/p1", "PractitionerRole/r1"]);
        app.get("Patient?_include:recurse=Patient:general-practitioner").await.expect(400);
    }

    async fn sort_on_several_keys_with_stable_paging(app) {
        load(&app).await;
        assert_eq!(ids(&app, "Patient?_sort=family").await, ["p3", "p1", "p2"]);
        assert_eq!(ids(&app, "Patient?_sort=-family").await, ["p2", "p1", "p3"]);
        // Resources without a value come last in both directions.
        assert_eq!(ids(&app, "Observation?_sort=date").await, ["o2", "o4", "o1", "o3"]);
        assert_eq!(ids(&app, "Observation?_sort=-date").await, ["o1", "o4", "o2", "o3"]);
        assert_eq!(ids(&app, "Patient?_sort=gender,-birthdate").await, ["p1", "p3", "p2"]);
        assert_eq!(ids(&app, "Observation?_sort=-_id").await, ["o4", "o3", "o2", "o1"]);
        app.get("Patient?_sort=nonsense").await.expect(400);
        app.get("Patient?_sort=general-practitioner").await.expect(400);

        // Page through a sorted search one at a time while a new resource arrives that sorts
        // before the current position: nothing is skipped or repeated.
        let mut seen = Vec::new();
        let mut next = Some(format!("{}/Observation?_sort=-date&_count=1", app.base));
        while let Some(url) = next {
            let path = url.strip_prefix(&format!("{}/", app.base)).unwrap().to_string();
            let b = app.get(&path).await.expect(200).json();
            seen.extend(matches(&b));
            if seen.len() == 2 {
                app.put_json("Observation/o0", &observation("o0", "p1", SCT, "1", Some("2030-01-01"))).await.expect(201);
            }
            next = b["link"].as_array().unwrap().iter()
                .find(|l| l["relation"] == "next")
                .map(|l| l["url"].as_str().unwrap().to_string());
        }
        assert_eq!(seen, ["o1", "o4", "o2", "o3"]);
        app.get("Observation?_sort=-date&_cursor=garbage").await.expect(400);
    }

    async fn summary_count_and_data_and_elements(app) {
        load(&app).await;
        let b = app.get("Observation?_summary=count").await.expect(200).json();
        assert_eq!(b["total"], 4);
        assert!(b.get("entry").is_none(), "{b}");

        app.put_json("Patient/t", &json!({"resourceType": "Patient", "id": "t",
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">T</div>"},
            "active": true})).await.expect(201);
        let b = app.get("Patient?_id=t&_summary=data").await.expect(200).json();
        let r = &b["entry"][0]["resource"];
        assert!(r.get("text").is_none());
        assert_eq!(r["active"], true);
        assert_eq!(r["meta"]["tag"][0]["code"], "SUBSETTED");

        let b = app.get("Observation?_id=o1&_elements=status,value,effective&_include=Observation:subject").await.expect(200).json();
        let o = &b["entry"][0]["resource"];
        assert_eq!(o["status"], "final");
        assert_eq!(o["effectiveDateTime"], "2024-05-01", "a choice element is kept by its base name");
        assert!(o.get("code").is_none() && o.get("subject").is_none());
        assert_eq!(o["id"], "o1");
        assert_eq!(o["meta"]["tag"][0]["code"], "SUBSETTED");
        // Included resources are whole.
        assert_eq!(b["entry"][1]["resource"]["name"][0]["family"], "Bakker");

        // _summary=true is not supported: a warning, or 400 under strict handling.
        let b = app.get("Patient?_summary=true").await.expect(200).json();
        assert!(b["entry"].as_array().unwrap().iter().any(|e| e["search"]["mode"] == "outcome"));
        app.get_with("Patient?_summary=true", &[("Prefer", "handling=strict")]).await.expect(400);
        app.get("Patient?_summary=nonsense").await.expect(400);
    }
}
