//! Search over the index: every parameter type, modifiers and prefixes, AND/OR, paging, index
//! upkeep on update and delete, unknown parameters, POST _search.

mod common;

use actix_web::http::Method;
use common::*;
use serde_json::{json, Value};

const BSN: &str = "http://fhir.nl/fhir/NamingSystem/bsn";

async fn load(app: &TestApp) {
    let resources = vec![
        json!({"resourceType": "Patient", "id": "p1", "active": true, "gender": "female", "birthDate": "1950-02-03",
               "identifier": [{"system": BSN, "value": "999911120"}],
               "name": [{"family": "van der Sluijs", "given": ["Émile"]}]}),
        json!({"resourceType": "Patient", "id": "p2", "gender": "male", "birthDate": "1941-05-17",
               "identifier": [{"system": BSN, "value": "999998298"}],
               "name": [{"family": "Hartman", "given": ["Hendrik"]}]}),
        json!({"resourceType": "Patient", "id": "p3", "birthDate": "1941", "name": [{"family": "Ğürsel"}]}),
        json!({"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/p1"},
               "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
               "effectiveDateTime": "2020-03-15T10:00:00+01:00",
               "valueQuantity": {"value": 72.50, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}),
        json!({"resourceType": "Observation", "id": "o2", "status": "final", "subject": {"reference": "Patient/p2"},
               "code": {"coding": [{"system": "http://snomed.info/sct", "code": "27113001"}], "text": "Lichaamsgewicht"},
               "effectiveDateTime": "2021",
               "valueQuantity": {"value": 80, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}),
        json!({"resourceType": "QuestionnaireResponse", "id": "qr1", "status": "completed",
               "questionnaire": "https://api.iknl.nl/docs/pzp/r4/Questionnaire/ACP-zib2020|1.0.0-rc1",
               "subject": {"reference": "Patient/p1"}}),
    ];
    app.put_all(resources).await;
}

/// The ids a search returns, sorted.
async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    let b = app.get(query).await.expect(200).json();
    assert_eq!(b["type"], "searchset", "{b}");
    let mut ids: Vec<String> = b["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["search"]["mode"] == "match")
                .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    assert_eq!(
        b["total"].as_u64().unwrap() as usize,
        ids.len(),
        "{query}: total"
    );
    ids
}

fn v(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

backend_tests! {
    async fn string_parameters(app) {
        load(&app).await;
        assert_eq!(ids(&app, "Patient?family=van").await, v(&["p1"]));
        assert_eq!(ids(&app, "Patient?family=VAN%20DER").await, v(&["p1"]));
        assert_eq!(ids(&app, "Patient?name=emile").await, v(&["p1"]));
        assert_eq!(ids(&app, "Patient?name=%C3%A9mile").await, v(&["p1"]));
        assert_eq!(ids(&app, "Patient?name=gursel").await, v(&["p3"]));
        assert_eq!(ids(&app, "Patient?family:exact=Hartman").await, v(&["p2"]));
        assert!(ids(&app, "Patient?family:exact=hartman").await.is_empty());
        assert_eq!(ids(&app, "Patient?family:contains=urs").await, v(&["p3"]));
        assert_eq!(ids(&app, "Patient?family=hart,sluijs").await, v(&["p2"]));
        assert_eq!(ids(&app, "Patient?name=hart,emile").await, v(&["p1", "p2"]));
        assert!(ids(&app, "Patient?family=100%25").await.is_empty());
    }

    async fn token_parameters(app) {
        load(&app).await;
        assert_eq!(ids(&app, &format!("Patient?identifier={BSN}|999911120")).await, v(&["p1"]));
        assert_eq!(ids(&app, "Patient?identifier=999998298").await, v(&["p2"]));
        assert!(ids(&app, "Patient?identifier=|999911120").await.is_empty());
        assert_eq!(ids(&app, &format!("Patient?identifier={BSN}|")).await, v(&["p1", "p2"]));
        assert_eq!(ids(&app, "Patient?gender=male,female").await, v(&["p1", "p2"]));
        assert_eq!(ids(&app, "Patient?gender:not=male").await, v(&["p1", "p3"]));
        assert_eq!(ids(&app, "Patient?active=true").await, v(&["p1"]));
        assert_eq!(ids(&app, "Observation?code=http://loinc.org|29463-7").await, v(&["o1"]));
        assert_eq!(ids(&app, "Observation?code=27113001").await, v(&["o2"]));
        assert_eq!(ids(&app, "Observation?code:text=lichaams").await, v(&["o2"]));
        assert_eq!(ids(&app, "Patient?_id=p1,p3").await, v(&["p1", "p3"]));
        assert_eq!(ids(&app, "Patient?_id=p1&gender=male").await, v(&[]));
    }

    async fn date_parameters(app) {
        load(&app).await;
        assert_eq!(ids(&app, "Patient?birthdate=1941").await, v(&["p2", "p3"]));
        assert_eq!(ids(&app, "Patient?birthdate=1941-05").await, v(&["p2"]));
        assert_eq!(ids(&app, "Patient?birthdate=eq1941-05-17").await, v(&["p2"]));
        assert_eq!(ids(&app, "Patient?birthdate=ge1950").await, v(&["p1"]));
        assert_eq!(ids(&app, "Patient?birthdate=lt1945").await, v(&["p2", "p3"]));
        assert_eq!(ids(&app, "Patient?birthdate=sa1941-12-31").await, v(&["p1"]));
        assert_eq!(ids(&app, "Patient?birthdate=eb1950").await, v(&["p2", "p3"]));
        assert_eq!(ids(&app, "Patient?birthdate=ne1941").await, v(&["p1"]));
        assert_eq!(ids(&app, "Patient?birthdate=ge1941&birthdate=le1941-12-31").await, v(&["p2", "p3"]));
        assert_eq!(ids(&app, "Observation?date=2020-03").await, v(&["o1"]));
        assert_eq!(ids(&app, "Observation?date=2020-03-15T09:00:00Z").await, v(&["o1"]));
        assert_eq!(ids(&app, "Observation?date=ge2021-01-01").await, v(&["o2"]));
        assert_eq!(ids(&app, "Observation?date=gt2020-03-15T12:00:00%2B02:00").await, v(&["o2"]));
        let (code, _, expr) = app.get("Patient?birthdate=yesterday").await.expect(400).issue();
        assert_eq!(code, "value");
        assert_eq!(expr.as_deref(), Some("birthdate"));
    }

    async fn reference_number_and_uri_parameters(app) {
        load(&app).await;
        assert_eq!(ids(&app, "Observation?subject=Patient/p1").await, v(&["o1"]));
        assert_eq!(ids(&app, "Observation?patient=p1").await, v(&["o1"]));
        assert_eq!(ids(&app, "Observation?subject:Patient=p2").await, v(&["o2"]));
        assert!(ids(&app, "Observation?subject:Device=p2").await.is_empty());
        assert_eq!(ids(&app, &format!("Observation?subject={}", app.url("Patient/p1"))).await, v(&["o1"]));
        assert_eq!(ids(&app, "Observation?subject=Patient/p1,Patient/p2").await, v(&["o1", "o2"]));
        assert_eq!(ids(&app, "Observation?value-quantity=72.5").await, v(&["o1"]));
        assert_eq!(ids(&app, "Observation?value-quantity=72.50|http://unitsofmeasure.org|kg").await, v(&["o1"]));
        assert!(ids(&app, "Observation?value-quantity=72.5||g").await.is_empty());
        assert_eq!(ids(&app, "Observation?value-quantity=gt75").await, v(&["o2"]));
        assert_eq!(ids(&app, "Observation?value-quantity=le72.5").await, v(&["o1"]));
        assert_eq!(
            ids(&app, "QuestionnaireResponse?questionnaire=https://api.iknl.nl/docs/pzp/r4/Questionnaire/ACP-zib2020").await,
            v(&["qr1"])
        );
        assert_eq!(ids(&app, "QuestionnaireResponse?subject=Patient/p1").await, v(&["qr1"]));
        assert_eq!(ids(&app, "QuestionnaireResponse?patient=Patient/p1").await, v(&["qr1"]));
        app.get("Observation?value-quantity=heavy").await.expect(400).issue();
    }

    async fn id_and_last_updated_come_from_the_resource_itself(app) {
        load(&app).await;
        let stamp = |r: &Value| r["meta"]["lastUpdated"].as_str().unwrap().to_string();
        let p1 = app.get("Patient/p1").await.expect(200).json();
        let p3 = app.get("Patient/p3").await.expect(200).json();
        let (t1, t3) = (stamp(&p1), stamp(&p3));
        assert!(t1 < t3, "{t1} {t3}: loaded one after another");
        assert_eq!(ids(&app, &format!("Patient?_lastUpdated={t1}")).await, v(&["p1"]));
        assert_eq!(ids(&app, &format!("Patient?_lastUpdated=eq{t3}")).await, v(&["p3"]));
        assert_eq!(ids(&app, &format!("Patient?_lastUpdated=lt{t3}")).await, v(&["p1", "p2"]));
        assert_eq!(ids(&app, &format!("Patient?_lastUpdated=gt{t1}")).await, v(&["p2", "p3"]));
        assert_eq!(ids(&app, &format!("Patient?_lastUpdated=le{t1},ge{t3}")).await, v(&["p1", "p3"]));
        assert_eq!(ids(&app, &format!("Patient?_lastUpdated=ne{t1}")).await, v(&["p2", "p3"]));
        assert_eq!(ids(&app, "Patient?_lastUpdated=ge2020&_lastUpdated=lt2999").await, v(&["p1", "p2", "p3"]));
        assert!(ids(&app, "Patient?_lastUpdated=lt2020-01-01").await.is_empty());
        assert_eq!(ids(&app, &format!("Patient?gender=female,male&_lastUpdated=gt{t1}")).await, v(&["p2"]));
        assert_eq!(ids(&app, &format!("Observation?subject:Patient._lastUpdated=gt{t1}")).await, v(&["o2"]));

        // An update moves the resource to its new timestamp; a deletion takes it out.
        app.put_json("Patient/p1", &p1).await.expect(200);
        let t1 = stamp(&app.get("Patient/p1").await.expect(200).json());
        assert_eq!(ids(&app, &format!("Patient?_lastUpdated=ge{t1}")).await, v(&["p1"]));
        assert_eq!(ids(&app, &format!("Patient?_lastUpdated=gt{t3}&_sort=-_lastUpdated")).await, v(&["p1"]));
        app.delete("Patient/p2").await.expect(200);
        assert_eq!(ids(&app, &format!("Patient?_lastUpdated=lt{t1}")).await, v(&["p3"]));

        assert_eq!(ids(&app, "Patient?_id:not=p1").await, v(&["p3"]));
        assert_eq!(ids(&app, "Patient?_id:not=p1,p3").await, v(&[]));
        assert_eq!(ids(&app, "Patient?_id:missing=false").await, v(&["p1", "p3"]));
        assert!(ids(&app, "Patient?_lastUpdated:missing=true").await.is_empty());
        for query in ["Patient?_id:text=p1", "Patient?_lastUpdated:exact=2020", "Patient?_id:missing=maybe"] {
            let (_, _, expr) = app.get(query).await.expect(400).issue();
            assert_eq!(expr.as_deref(), Some(query.split_once('?').unwrap().1.split_once('=').unwrap().0));
        }
        let (code, _, _) = app.get("Patient?_lastUpdated=soon").await.expect(400).issue();
        assert_eq!(code, "value");
    }

    async fn phonetic_searches_the_names(app) {
        load(&app).await;
        assert_eq!(ids(&app, "Patient?phonetic=emile").await, v(&["p1"]));
        assert_eq!(ids(&app, "Patient?phonetic:exact=Hartman").await, v(&["p2"]));
        assert_eq!(ids(&app, "Patient?phonetic:missing=true").await, v(&[]));
        let sorted = app.get("Patient?_sort=phonetic").await.expect(200).json();
        let order: Vec<&str> = sorted["entry"].as_array().unwrap().iter()
            .map(|e| e["resource"]["id"].as_str().unwrap()).collect();
        assert_eq!(order, ["p1", "p3", "p2"], "by the first of their names: emile, gursel, hartman");
        let mut p2: Value = app.get("Patient/p2").await.json();
        p2["name"][0]["family"] = json!("Visser");
        app.put_json("Patient/p2", &p2).await.expect(200);
        assert!(ids(&app, "Patient?phonetic=hartman").await.is_empty());
        assert_eq!(ids(&app, "Patient?phonetic=visser").await, v(&["p2"]));
    }

    async fn index_follows_updates_and_deletes(app) {
        load(&app).await;
        let mut p1: Value = app.get("Patient/p1").await.json();
        p1["name"][0]["family"] = json!("Mulder");
        app.put_json("Patient/p1", &p1).await.expect(200);
        assert!(ids(&app, "Patient?family=van").await.is_empty());
        assert_eq!(ids(&app, "Patient?family=mulder").await, v(&["p1"]));
        app.delete("Patient/p2").await.expect(200);
        assert!(ids(&app, "Patient?gender=male").await.is_empty());
        assert_eq!(ids(&app, "Patient").await, v(&["p1", "p3"]));
        app.send(Method::PATCH, "Patient/p3", &[("Content-Type", "application/json-patch+json")],
            Some(json!([{"op": "add", "path": "/gender", "value": "male"}]).to_string().into_bytes())).await.expect(200);
        assert_eq!(ids(&app, "Patient?gender=male").await, v(&["p3"]));
    }

    async fn total_is_counted_up_to_a_thousand_unless_asked_for(app) {
        load(&app).await;
        // Two Bundles: one may hold at most 1,000 entries.
        for range in [0..500, 500..1001] {
            let entries: Vec<Value> = range
                .map(|n| json!({
                    "resource": {"resourceType": "Patient", "id": format!("j{n}"), "name": [{"family": "Jansen"}]},
                    "request": {"method": "PUT", "url": format!("Patient/j{n}")},
                }))
                .collect();
            let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
            app.post_json("", &bundle).await.expect(200);
        }
        let total = |b: &Value| b.get("total").and_then(Value::as_u64);
        let next = |b: &Value| {
            b["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next")
                .map(|l| l["url"].as_str().unwrap().strip_prefix(&app.base).unwrap().to_string())
        };

        let page = app.get("Patient?family=jansen").await.expect(200).json();
        assert_eq!(total(&page), None, "more than 1000 matches are not counted unless asked");
        assert_eq!(page["entry"].as_array().unwrap().len(), 50);
        assert!(next(&page).is_some(), "paging goes on by the next link");
        for (query, expected) in [
            ("Patient?family=jansen&_total=accurate", Some(1001)),
            ("Patient?family=jansen&_summary=count", Some(1001)),
            ("Patient?family=jansen&_total=estimate", None),
            ("Patient?family=jansen&_total=none", None),
            ("Patient?family=hartman&_total=none", None),
            ("Patient?family=hartman", Some(1)),
            ("Patient?_count=2", None),
            ("Patient?_count=2&_total=accurate", Some(1004)),
        ] {
            assert_eq!(total(&app.get(query).await.expect(200).json()), expected, "{query}");
        }

        app.delete("Patient/j0").await.expect(200);
        let first = app.get("Patient?family=jansen&_count=400").await.expect(200).json();
        assert_eq!(total(&first), Some(1000), "exactly 1000 matches are counted");
        let second = app.get(&next(&first).unwrap()).await.expect(200).json();
        assert_eq!(total(&second), Some(1000), "a later page counts them all, not its own");
        assert_eq!(second["entry"].as_array().unwrap().len(), 400);

        let (code, message, expr) = app.get("Patient?family=jansen&_total=some").await.expect(400).issue();
        assert_eq!((code.as_str(), expr.as_deref()), ("value", Some("_total")));
        assert!(message.contains("none, estimate or accurate"), "{message}");
    }

    async fn paging_unknown_parameters_and_formats(app) {
        load(&app).await;
        let first = app.get("Patient?_count=2").await.expect(200).json();
        assert_eq!(first["total"], 3);
        assert_eq!(first["entry"].as_array().unwrap().len(), 2);
        let next = first["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next").unwrap();
        let next = next["url"].as_str().unwrap().strip_prefix(&app.base).unwrap().to_string();
        let second = app.get(&next).await.expect(200).json();
        assert_eq!(second["entry"].as_array().unwrap().len(), 1);
        assert!(second["link"].as_array().unwrap().iter().all(|l| l["relation"] != "next"));
        let mut all: Vec<&str> = first["entry"].as_array().unwrap().iter()
            .chain(second["entry"].as_array().unwrap())
            .map(|e| e["resource"]["id"].as_str().unwrap()).collect();
        all.sort();
        assert_eq!(all, ["p1", "p2", "p3"]);
        app.get("Patient?_count=x").await.expect(400).issue();

        let lenient = app.get("Patient?foo=bar&gender=male").await.expect(200).json();
        let entries = lenient["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        let outcome = entries.iter().find(|e| e["search"]["mode"] == "outcome").unwrap();
        assert!(outcome["resource"]["issue"][0]["diagnostics"].as_str().unwrap().contains("foo"));
        let (code, _, expr) = app.get_with("Patient?foo=bar", &[("Prefer", "handling=strict")]).await.expect(400).issue();
        assert_eq!(code, "not-supported");
        assert_eq!(expr.as_deref(), Some("foo"));
        app.get("Patient?family:fuzzy=x").await.expect(400).issue();
        app.get("Foo?x=1").await.expect(404).issue();

        let xml = app.get("Patient?gender=male&_format=xml").await.expect(200).text();
        assert!(xml.contains("<Bundle") && xml.contains("<value value=\"searchset\"/>") || xml.contains("searchset"), "{xml}");

        let form = app.send(Method::POST, "Patient/_search", &[("Content-Type", "application/x-www-form-urlencoded")],
            Some(b"family=van+der&gender=female".to_vec())).await.expect(200).json();
        assert_eq!(form["total"], 1);
        assert_eq!(form["entry"][0]["resource"]["id"], "p1");
        app.send(Method::POST, "Patient/_search", &[("Content-Type", FHIR_JSON)], Some(b"{}".to_vec())).await.expect(415);
    }

    async fn include_and_revinclude(app) {
        load(&app).await;
        let modes = |b: &Value| -> Vec<(String, String)> {
            let mut m: Vec<(String, String)> = b["entry"].as_array().unwrap().iter()
                .map(|e| (e["resource"]["id"].as_str().unwrap().to_string(), e["search"]["mode"].as_str().unwrap().to_string()))
                .collect();
            m.sort();
            m
        };
        let pair = |id: &str, mode: &str| (id.to_string(), mode.to_string());

        let b = app.get("Observation?_id=o1&_include=Observation:subject").await.expect(200).json();
        assert_eq!(b["total"], 1, "includes are not counted");
        assert_eq!(modes(&b), [pair("o1", "match"), pair("p1", "include")]);
        let b = app.get("Observation?_include=Observation:subject:Patient").await.expect(200).json();
        assert_eq!(modes(&b), [pair("o1", "match"), pair("o2", "match"), pair("p1", "include"), pair("p2", "include")]);
        let b = app.get("Observation?_id=o1&_include=Observation:subject:Device").await.expect(200).json();
        assert_eq!(modes(&b), [pair("o1", "match")]);

        let b = app.get("Patient?_id=p1&_revinclude=Observation:subject&_revinclude=QuestionnaireResponse:subject").await.expect(200).json();
        assert_eq!(modes(&b), [pair("o1", "include"), pair("p1", "match"), pair("qr1", "include")]);
        // A resource that is already a match is not repeated as an include.
        let b = app.get("Patient?_revinclude=Observation:subject&_include=Patient:general-practitioner").await.expect(200).json();
        assert_eq!(b["entry"].as_array().unwrap().len(), 5);

        // Deleted targets are not included.
        app.delete("Patient/p1").await.expect(200);
        let b = app.get("Observation?_id=o1&_include=Observation:subject").await.expect(200).json();
        assert_eq!(modes(&b), [pair("o1", "match")]);

        let (_, _, expr) = app.get("Observation?_include=Observation:nonsense").await.expect(400).issue();
        assert_eq!(expr.as_deref(), Some("_include"));
        app.get("Observation?_include=Patient:general-practitioner").await.expect(400).issue();
        app.get("Observation?_include=subject").await.expect(400).issue();
        let (code, _, _) = app.get("Observation?_include:recurse=Observation:subject").await.expect(400).issue();
        assert_eq!(code, "not-supported");
    }

    async fn chained_parameters(app) {
        load(&app).await;
        assert_eq!(ids(&app, "Observation?subject.name=emile").await, v(&["o1"]));
        assert_eq!(ids(&app, "Observation?subject:Patient.birthdate=1941").await, v(&["o2"]));
        assert_eq!(ids(&app, &format!("Observation?subject.identifier={BSN}|999998298")).await, v(&["o2"]));
        assert_eq!(ids(&app, "Observation?patient.gender=male,female").await, v(&["o1", "o2"]));
        assert_eq!(ids(&app, "QuestionnaireResponse?subject.family=van").await, v(&["qr1"]));
        assert_eq!(ids(&app, "QuestionnaireResponse?subject:Patient._id=p1").await, v(&["qr1"]));
        assert!(ids(&app, "Observation?subject.name=emile&code=27113001").await.is_empty());

        app.delete("Patient/p2").await.expect(200);
        assert!(ids(&app, "Observation?subject.gender=male").await.is_empty());

        let (_, _, expr) = app.get("Observation?subject.nonsense=x").await.expect(400).issue();
        assert_eq!(expr.as_deref(), Some("subject.nonsense"));
        app.get("Observation?code.name=x").await.expect(400).issue();
        app.get("Observation?subject:Organization.name=x").await.expect(400).issue();
        app.get("Observation?subject.general-practitioner.organization.partof.name=x").await.expect(400).issue();
    }
}
