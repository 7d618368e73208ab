//! Conditional create (If-None-Exist), conditional update (PUT [type]?query) and conditional
//! delete (DELETE [type]?query), including many identical conditional creates at once.

mod common;

use actix_web::http::Method;
use common::*;
use serde_json::{json, Value};

const BSN: &str = "http://fhir.nl/fhir/NamingSystem/bsn";

fn patient(bsn: &str, family: &str) -> Value {
    json!({"resourceType": "Patient",
           "identifier": [{"system": BSN, "value": bsn}],
           "name": [{"family": family}]})
}

async fn create_if_none_exist(app: &TestApp, body: &Value, condition: &str) -> Resp {
    app.send(
        Method::POST,
        "Patient",
        &[("Content-Type", FHIR_JSON), ("If-None-Exist", condition)],
        Some(body.to_string().into_bytes()),
    )
    .await
}

/// How many current Patients carry this BSN.
async fn count_bsn(app: &TestApp, bsn: &str) -> u64 {
    let b = app
        .get(&format!("Patient?identifier={BSN}|{bsn}"))
        .await
        .expect(200)
        .json();
    b["total"].as_u64().unwrap()
}

backend_tests! {
    async fn conditional_create_finds_instead_of_duplicating(app) {
        let condition = format!("identifier={BSN}|999911120");
        let first = create_if_none_exist(&app, &patient("999911120", "Jansen"), &condition)
            .await
            .expect(201);
        let id = first.json()["id"].as_str().unwrap().to_string();

        let again = create_if_none_exist(&app, &patient("999911120", "Other"), &condition)
            .await
            .expect(200);
        assert_eq!(again.json()["id"], id.as_str(), "the existing resource is answered");
        assert_eq!(again.json()["name"][0]["family"], "Jansen", "and it was not changed");
        assert_eq!(count_bsn(&app, "999911120").await, 1);

        // A leading '?' and percent-encoding are accepted in the header.
        let encoded = format!("?identifier={}%7C999911120", BSN.replace(':', "%3A"));
        create_if_none_exist(&app, &patient("999911120", "X"), &encoded).await.expect(200);

        // Two matches: 412, nothing created.
        app.post_json("Patient", &patient("999911168", "Tweeling")).await.expect(201);
        app.post_json("Patient", &patient("999911193", "Tweeling")).await.expect(201);
        let r = create_if_none_exist(&app, &patient("999998298", "Tweeling"), "family=Tweeling")
            .await
            .expect(412);
        assert_eq!(r.issue().0, "multiple-matches");
        assert_eq!(count_bsn(&app, "999998298").await, 0);

        // Unknown parameters would widen the match, so they are refused; so is an empty one.
        let r = create_if_none_exist(&app, &patient("1", "D"), "nonsense=1").await.expect(400);
        assert!(r.issue().1.contains("nonsense"), "{}", r.text());
        create_if_none_exist(&app, &patient("1", "D"), "").await.expect(400);
    }

    async fn forty_identical_conditional_creates_make_one_resource(app) {
        let condition = format!("identifier={BSN}|999990019");
        let requests = (0..40).map(|i| {
            let app = &app;
            let condition = condition.clone();
            async move {
                create_if_none_exist(app, &patient("999990019", &format!("n{i}")), &condition).await
            }
        });
        let answers = futures_util::future::join_all(requests).await;
        let mut created = 0;
        let mut ids = std::collections::HashSet::new();
        for a in &answers {
            match a.status.as_u16() {
                201 => created += 1,
                200 => {}
                other => panic!("status {other}: {}", a.text()),
            }
            ids.insert(a.json()["id"].as_str().unwrap().to_string());
        }
        assert_eq!(created, 1, "exactly one request created");
        assert_eq!(ids.len(), 1, "every answer names the same resource");
        assert_eq!(count_bsn(&app, "999990019").await, 1);
    }

    async fn conditional_update_updates_the_match_or_creates(app) {
        let query = format!("Patient?identifier={BSN}|999911132");
        // No match, no id: created under a new id.
        let r = app.put_json(&query, &patient("999911132", "Eerst")).await.expect(201);
        let id = r.json()["id"].as_str().unwrap().to_string();
        // One match: updated, whether or not the body carries the id.
        let r = app.put_json(&query, &patient("999911132", "Daarna")).await.expect(200);
        assert_eq!(r.json()["id"], id.as_str());
        assert_eq!(r.json()["meta"]["versionId"], "2");
        let mut with_id = patient("999911132", "Derde");
        with_id["id"] = json!(id);
        app.put_json(&query, &with_id).await.expect(200);
        // A body id that is not the match's: 400.
        let mut wrong = patient("999911132", "Fout");
        wrong["id"] = json!("someone-else");
        app.put_json(&query, &wrong).await.expect(400);
        assert_eq!(app.get(&format!("Patient/{id}")).await.expect(200).json()["name"][0]["family"], "Derde");

        // No match, with an id that is free: created under that id.
        let mut new = patient("999911144", "Nieuw");
        new["id"] = json!("chosen-id");
        app.put_json(&format!("Patient?identifier={BSN}|999911144"), &new).await.expect(201);
        app.get("Patient/chosen-id").await.expect(200);
        // No match, with the id of a resource that does not meet the conditions: 409.
        app.put_json(&format!("Patient?identifier={BSN}|999911156"), &new).await.expect(409);

        // Several matches: 412 and nothing changes.
        app.post_json("Patient", &patient("999911168", "Tweeling")).await.expect(201);
        app.post_json("Patient", &patient("999998298", "Tweeling")).await.expect(201);
        app.put_json("Patient?family=Tweeling", &patient("999990019", "Tweeling"))
            .await
            .expect(412);
        assert_eq!(count_bsn(&app, "999990019").await, 0);
        // No parameters at all is not a conditional update.
        app.put_json("Patient?_format=json", &patient("1", "X")).await.expect(400);
    }

    async fn conditional_delete_deletes_the_one_match(app) {
        let id = app.post_json("Patient", &patient("999911181", "Weg")).await.expect(201).json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        app.delete(&format!("Patient?identifier={BSN}|999911181")).await.expect(200);
        app.get(&format!("Patient/{id}")).await.expect(410);
        // Nothing matches (any more): 200 with an outcome that says so.
        let r = app.delete(&format!("Patient?identifier={BSN}|999911181")).await.expect(200);
        assert!(r.json()["issue"][0]["diagnostics"].as_str().unwrap().contains("nothing changed"));

        app.post_json("Patient", &patient("999911193", "Tweeling")).await.expect(201);
        app.post_json("Patient", &patient("999998298", "Tweeling")).await.expect(201);
        app.delete("Patient?family=Tweeling").await.expect(412);
        assert_eq!(count_bsn(&app, "999911193").await, 1);
        assert_eq!(count_bsn(&app, "999998298").await, 1);
        app.delete("Patient?unknown=1").await.expect(400);
    }
}
