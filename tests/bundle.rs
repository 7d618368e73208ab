//! Transaction and batch Bundles at `POST /`: all-or-nothing, processing order, `urn:uuid:`
//! and conditional references, conditional entries, PATCH entries, and batch independence.

mod common;

use common::*;
use serde_json::{json, Value};

const BSN: &str = "http://fhir.nl/fhir/NamingSystem/bsn";

fn bundle(kind: &str, entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "entry": entries})
}

fn patient(bsn: &str, family: &str) -> Value {
    json!({"resourceType": "Patient",
           "identifier": [{"system": BSN, "value": bsn}],
           "name": [{"family": family}]})
}

fn observation(subject: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
           "code": {"text": "wens"}, "subject": {"reference": subject}})
}

fn post(full_url: &str, resource: Value) -> Value {
    let t = resource["resourceType"].as_str().unwrap().to_string();
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": t}})
}

fn put(resource: Value) -> Value {
    let url = path_of(&resource);
    json!({"resource": resource, "request": {"method": "PUT", "url": url}})
}

fn request(method: &str, url: &str) -> Value {
    json!({"request": {"method": method, "url": url}})
}

/// The total of a search.
async fn total(app: &TestApp, query: &str) -> u64 {
    app.get(query).await.expect(200).json()["total"]
        .as_u64()
        .unwrap()
}

backend_tests! {
    async fn every_index_row_of_a_large_transaction_is_searchable(app) {
        // 300 Observations give some 600 token rows, more than one multi-row statement takes.
        let patient_url = "urn:uuid:0c3a6f4e-0000-4000-8000-0000000000a1";
        let mut entries = vec![post(patient_url, patient("999911120", "de Vries"))];
        for n in 0..300 {
            let mut o = observation(patient_url);
            o["code"] = json!({"coding": [{"system": "urn:test:wish", "code": format!("w{n}")}]});
            entries.push(post(&format!("urn:uuid:0c3a6f4e-0000-4000-8001-{n:012}"), o));
        }
        // Read inside the same transaction (GET entries come last): it sees the new rows.
        entries.push(request("GET", "Observation?code=urn:test:wish|w5"));
        let r = app.post_json("", &bundle("transaction", entries)).await.expect(200).json();
        assert_eq!(r["entry"][301]["resource"]["total"], 1);
        let patient_id = r["entry"][0]["resource"]["id"].as_str().unwrap().to_string();
        assert_eq!(total(&app, &format!("Observation?subject=Patient/{patient_id}")).await, 300);
        for n in [0, 1, 255, 256, 299] {
            let q = format!("Observation?code=urn:test:wish|w{n}&subject=Patient/{patient_id}");
            assert_eq!(total(&app, &q).await, 1, "{q}");
        }
        assert_eq!(total(&app, "Observation?status=final").await, 300);
    }

    async fn simultaneous_transactions_creating_the_same_resource_all_land(app) {
        // Each finds Patient/same absent and queues it as new; on PostgreSQL all but one collide
        // when they send it (for the search entry, before commit), run again, and write the
        // next version instead.
        let writers = (0..8).map(|i| {
            let app = &app;
            let mut p = patient("999911120", &format!("w{i}"));
            p["id"] = json!("same");
            let entries = vec![put(p), request("GET", "Patient?identifier=999911120")];
            async move { app.post_json("", &bundle("transaction", entries)).await }
        });
        let answers = futures_util::future::join_all(writers).await;
        let mut statuses: Vec<String> = answers
            .iter()
            .map(|a| {
                assert_eq!(a.status.as_u16(), 200, "{}", a.text());
                assert_eq!(a.json()["entry"][1]["resource"]["total"], 1);
                a.json()["entry"][0]["response"]["status"].as_str().unwrap().to_string()
            })
            .collect();
        statuses.sort();
        assert_eq!(statuses[0], "200 OK", "{statuses:?}");
        assert_eq!(statuses[7], "201 Created", "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| s.starts_with("201")).count(), 1, "{statuses:?}");
        let h = app.get("Patient/same/_history?_count=20").await.expect(200).json();
        assert_eq!(h["total"], 8);
        let versions: Vec<&str> = h["entry"].as_array().unwrap().iter()
            .map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["8", "7", "6", "5", "4", "3", "2", "1"]);
        // The first version is the creation (PUT), and each later one replaced the one before.
        let methods: Vec<&str> = h["entry"].as_array().unwrap().iter()
            .map(|e| e["request"]["method"].as_str().unwrap())
            .collect();
        assert_eq!(methods, ["PUT"; 8]);
        assert_eq!(total(&app, "Patient?identifier=999911120").await, 1);
    }

    async fn a_care_team_change_counts_for_the_entries_after_it(app) {
        // Our organisation is in p1's care team, and so may write p1's record.
        let ours = json!({"member": {"type": "Organization",
            "identifier": {"system": "http://fhir.nl/fhir/NamingSystem/ura", "value": OWN_URA}}});
        let theirs = json!({"member": {"type": "Organization",
            "identifier": {"system": "http://fhir.nl/fhir/NamingSystem/ura", "value": "99999999"}}});
        let team = |participants: Vec<Value>| json!({"resourceType": "CareTeam", "id": "t1",
            "status": "active", "subject": {"reference": "Patient/p1"}, "participant": participants});
        let mut p = patient("999911120", "de Vries");
        p["id"] = json!("p1");
        app.put_json("Patient/p1", &p).await.expect(201);
        app.put_json("CareTeam/t1", &team(vec![ours.clone(), theirs.clone()])).await.expect(201);

        // One transaction: a new entry for p1, then the team without us, then another new
        // entry for p1. The first is allowed; the last is not, so nothing of it is kept.
        let new_observation = |id: &str| {
            let mut o = observation("Patient/p1");
            o["id"] = json!(id);
            put(o)
        };
        let entries = vec![new_observation("o1"), put(team(vec![theirs])), new_observation("o2")];
        let r = app.post_json("", &bundle("transaction", entries)).await;
        assert_eq!(r.status.as_u16(), 403, "{}", r.text());
        let text = r.json()["issue"][0]["diagnostics"].as_str().unwrap().to_string();
        assert!(text.contains("no care relationship with Patient/p1"), "{text}");
        app.get("Observation/o1").await.expect(404);
        app.get("Observation/o2").await.expect(404);
        assert_eq!(app.get("CareTeam/t1").await.json()["participant"].as_array().unwrap().len(), 2);
    }

    async fn transaction_resolves_urn_uuid_references_and_answers_each_entry(app) {
        let b = bundle("transaction", vec![
            post("urn:uuid:0c3a6f4e-0000-4000-8000-000000000002", observation("urn:uuid:0c3a6f4e-0000-4000-8000-000000000001")),
            post("urn:uuid:0c3a6f4e-0000-4000-8000-000000000001", patient("999911120", "de Vries")),
        ]);
        let r = app.post_json("", &b).await.expect(200).json();
        assert_eq!(r["type"], "transaction-response");
        let entries = r["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "one response per entry, in request order");
        assert_eq!(entries[0]["resource"]["resourceType"], "Observation");
        assert_eq!(entries[1]["resource"]["resourceType"], "Patient");
        for e in entries {
            assert_eq!(e["response"]["status"], "201 Created");
            assert_eq!(e["response"]["etag"], "W/\"1\"");
            assert!(e["response"]["lastModified"].is_string());
            assert!(e["response"]["location"].as_str().unwrap().ends_with("/_history/1"));
        }
        let patient_id = entries[1]["resource"]["id"].as_str().unwrap();
        let obs_id = entries[0]["resource"]["id"].as_str().unwrap();
        let stored = app.get(&format!("Observation/{obs_id}")).await.expect(200).json();
        assert_eq!(stored["subject"]["reference"], format!("Patient/{patient_id}"));
        // The rewritten reference is indexed: the Observation is found through its patient.
        assert_eq!(total(&app, &format!("Observation?subject=Patient/{patient_id}")).await, 1);
    }

    async fn a_transaction_leaves_one_provenance_per_patient_record(app) {
        let b = bundle("transaction", vec![
            post("urn:uuid:0c3a6f4e-0000-4000-8000-000000000011", patient("999911120", "de Vries")),
            post("urn:uuid:0c3a6f4e-0000-4000-8000-000000000012", observation("urn:uuid:0c3a6f4e-0000-4000-8000-000000000011")),
            post("urn:uuid:0c3a6f4e-0000-4000-8000-000000000013", observation("urn:uuid:0c3a6f4e-0000-4000-8000-000000000011")),
            post("urn:uuid:0c3a6f4e-0000-4000-8000-000000000021", patient("999911132", "Jansen")),
            post("urn:uuid:0c3a6f4e-0000-4000-8000-000000000022", observation("urn:uuid:0c3a6f4e-0000-4000-8000-000000000021")),
        ]);
        let r = app.post_json("", &b).await.expect(200).json();
        let written: Vec<String> = r["entry"].as_array().unwrap().iter()
            .map(|e| format!("{}/_history/1", path_of(&e["resource"]))).collect();
        let all = app.get("Provenance?_count=50").await.expect(200).json();
        let provenance: Vec<&Value> = all["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).collect();
        assert_eq!(provenance.len(), 2, "{all}");
        let mut targets: Vec<Vec<String>> = provenance.iter().map(|p| {
            assert_eq!(p["activity"]["coding"][0]["code"], "CREATE");
            let mut t: Vec<String> = p["target"].as_array().unwrap().iter()
                .map(|t| t["reference"].as_str().unwrap().to_string()).collect();
            t.sort();
            t
        }).collect();
        targets.sort_by_key(|t| t.len());
        let mut first: Vec<String> = written[3..].to_vec();
        first.sort();
        let mut second: Vec<String> = written[..3].to_vec();
        second.sort();
        assert_eq!(targets, [first, second]);
        // Each written resource is found through its Provenance.
        for w in &written {
            let target = w.split("/_history").next().unwrap();
            assert_eq!(total(&app, &format!("Provenance?target={target}")).await, 1, "{target}");
        }
    }

    async fn a_failing_entry_rolls_back_the_whole_transaction(app) {
        app.put_json("Patient/kept", &json!({"resourceType": "Patient", "id": "kept", "active": true}))
            .await
            .expect(201);
        app.put_json("Patient/doomed", &json!({"resourceType": "Patient", "id": "doomed"}))
            .await
            .expect(201);
        let mut stale = put(json!({"resourceType": "Patient", "id": "kept", "active": false}));
        stale["request"]["ifMatch"] = json!("W/\"7\"");
        let b = bundle("transaction", vec![
            post("urn:uuid:1", patient("999911132", "Nieuw")),
            put(json!({"resourceType": "Patient", "id": "also-new"})),
            request("DELETE", "Patient/doomed"),
            stale,
        ]);
        let r = app.post_json("", &b).await.expect(412);
        let oo = r.json();
        assert_eq!(oo["resourceType"], "OperationOutcome");
        let text = oo["issue"][0]["diagnostics"].as_str().unwrap();
        assert!(text.contains("entry 3"), "the outcome names the failing entry: {text}");
        assert_eq!(oo["issue"][0]["expression"][0], "Bundle.entry[3]");
        // Nothing of the earlier entries remains.
        assert_eq!(total(&app, &format!("Patient?identifier={BSN}|999911132")).await, 0);
        app.get("Patient/also-new").await.expect(404);
        app.get("Patient/doomed").await.expect(200);
        let kept = app.get("Patient/kept").await.expect(200).json();
        assert_eq!(kept["meta"]["versionId"], "1");
        assert_eq!(app.stored_versions().await, 2);

        // An invalid resource in an entry: 400 naming the entry and the element.
        let b = bundle("transaction", vec![
            post("urn:uuid:2", patient("999911144", "Goed")),
            post("urn:uuid:3", json!({"resourceType": "Patient", "birthDate": "gisteren"})),
        ]);
        let r = app.post_json("", &b).await.expect(400);
        assert_eq!(total(&app, &format!("Patient?identifier={BSN}|999911144")).await, 0);
        assert!(r.text().contains("birthDate"), "{}", r.text());

        // A reference to a fullUrl that is not in the Bundle.
        let b = bundle("transaction", vec![post("urn:uuid:4", observation("urn:uuid:missing"))]);
        let r = app.post_json("", &b).await.expect(400);
        assert!(r.issue().1.contains("urn:uuid:missing"), "{}", r.text());
    }

    async fn transaction_entries_run_in_the_specified_order(app) {
        app.put_json("Patient/old", &json!({"resourceType": "Patient", "id": "old"})).await.expect(201);
        // Listed first, but GET runs last and sees the new Patient; DELETE runs before PUT.
        let b = bundle("transaction", vec![
            request("GET", &format!("Patient?identifier={BSN}|999911156")),
            request("GET", "Patient/old"),
            put(json!({"resourceType": "Patient", "id": "old", "active": true})),
            post("urn:uuid:5", patient("999911156", "Later")),
            request("DELETE", "Patient/gone"),
        ]);
        // A resource may be changed by one entry only.
        let dup = bundle("transaction", vec![
            put(json!({"resourceType": "Patient", "id": "x"})),
            put(json!({"resourceType": "Patient", "id": "x", "active": true})),
        ]);
        app.post_json("", &dup).await.expect(400);

        let r = app.post_json("", &b).await.expect(200).json();
        let e = r["entry"].as_array().unwrap();
        assert_eq!(e[0]["resource"]["type"], "searchset");
        assert_eq!(e[0]["resource"]["total"], 1, "the search ran after the create");
        assert_eq!(e[1]["resource"]["active"], true, "the read ran after the update");
        assert_eq!(e[2]["response"]["status"], "200 OK");
        assert_eq!(e[3]["response"]["status"], "201 Created");
        assert_eq!(e[4]["response"]["status"], "204 No Content");
    }

    async fn conditional_entries_and_conditional_references(app) {
        let existing = app.post_json("Patient", &patient("999911168", "Bestaand")).await.expect(201).json();
        let existing_id = existing["id"].as_str().unwrap();
        let mut create = post("urn:uuid:6", patient("999911168", "Dubbel"));
        create["request"]["ifNoneExist"] = json!(format!("identifier={BSN}|999911168"));
        let b = bundle("transaction", vec![
            create,
            post("urn:uuid:7", observation("urn:uuid:6")),
            post("urn:uuid:8", observation(&format!("Patient?identifier={BSN}|999911168"))),
            json!({"resource": patient("999911181", "Voorwaardelijk"),
                   "request": {"method": "PUT", "url": format!("Patient?identifier={BSN}|999911181")}}),
        ]);
        let r = app.post_json("", &b).await.expect(200).json();
        let e = r["entry"].as_array().unwrap();
        assert_eq!(e[0]["response"]["status"], "200 OK", "the existing Patient was found");
        assert_eq!(e[0]["resource"]["id"], existing_id);
        for obs in [&e[1], &e[2]] {
            assert_eq!(obs["resource"]["subject"]["reference"], format!("Patient/{existing_id}"));
        }
        assert_eq!(e[3]["response"]["status"], "201 Created");
        assert_eq!(total(&app, &format!("Patient?identifier={BSN}|999911168")).await, 1);

        // A conditional reference that selects nothing fails the transaction.
        let b = bundle("transaction", vec![
            post("urn:uuid:9", patient("999911193", "Niet bewaard")),
            post("urn:uuid:10", observation(&format!("Patient?identifier={BSN}|000000000"))),
        ]);
        app.post_json("", &b).await.expect(412);
        assert_eq!(total(&app, &format!("Patient?identifier={BSN}|999911193")).await, 0);
    }

    async fn patch_entries_carry_a_json_patch_binary(app) {
        app.put_json("Patient/pp", &json!({"resourceType": "Patient", "id": "pp", "active": true})).await.expect(201);
        // [{"op":"replace","path":"/active","value":false}]
        let data = "W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9hY3RpdmUiLCJ2YWx1ZSI6ZmFsc2V9XQ==";
        let b = bundle("transaction", vec![json!({
            "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data},
            "request": {"method": "PATCH", "url": "Patient/pp"}})]);
        let r = app.post_json("", &b).await.expect(200).json();
        assert_eq!(r["entry"][0]["response"]["status"], "200 OK");
        assert_eq!(app.get("Patient/pp").await.expect(200).json()["active"], false);
    }

    async fn batch_entries_succeed_or_fail_on_their_own(app) {
        let b = bundle("batch", vec![
            post("urn:uuid:a", patient("999912100", "Eén")),
            request("GET", "Patient/does-not-exist"),
            put(json!({"resourceType": "Patient", "id": "b2", "birthDate": "1950-01-01"})),
            json!({"request": {"method": "PUT", "url": "Patient/b3"}}),
            request("GET", &format!("Patient?identifier={BSN}|999912100")),
        ]);
        let r = app.post_json("", &b).await.expect(200).json();
        assert_eq!(r["type"], "batch-response");
        let e = r["entry"].as_array().unwrap();
        assert_eq!(e[0]["response"]["status"], "201 Created");
        assert_eq!(e[1]["response"]["status"], "404 Not Found");
        assert_eq!(e[1]["response"]["outcome"]["resourceType"], "OperationOutcome");
        assert_eq!(e[2]["response"]["status"], "201 Created");
        assert_eq!(e[3]["response"]["status"], "400 Bad Request");
        assert_eq!(e[4]["resource"]["total"], 1);
        app.get("Patient/b2").await.expect(200);
    }

    async fn only_transaction_and_batch_bundles_are_processed(app) {
        app.post_json("", &bundle("collection", vec![])).await.expect(400);
        app.post_json("", &json!({"resourceType": "Patient"})).await.expect(400);
        let r = app.post_json("", &bundle("transaction", vec![request("PUT", "Patient")])).await.expect(400);
        assert_eq!(r.json()["resourceType"], "OperationOutcome");
        app.post_json("", &bundle("transaction", vec![request("GET", "Nonsense/1")])).await.expect(404);
        // An empty transaction is valid and changes nothing.
        let r = app
            .post_json("", &json!({"resourceType": "Bundle", "type": "transaction"}))
            .await
            .expect(200)
            .json();
        assert_eq!(r["type"], "transaction-response");
    }
}
