//! The core REST interactions: create, read, vread, update, delete, conditional reads,
//! preconditions and `Prefer`, on both backends.

mod common;

use actix_web::http::Method;
use common::*;
use serde_json::{json, Value};

fn patient(id: Option<&str>, family: &str) -> Value {
    let mut p = json!({
        "resourceType": "Patient",
        "identifier": [{ "system": "urn:oid:2.16.840.1.113883.2.4.6.3", "value": "999911120" }],
        "name": [{ "family": family, "given": ["Hendrik"] }],
        "birthDate": "1941-05-17"
    });
    if let Some(id) = id {
        p["id"] = json!(id);
    }
    p
}

backend_tests! {
    async fn create_assigns_id_version_and_headers(app) {
        let r = app.post_json("Patient", &patient(Some("client-chosen"), "Hartman")).await.expect(201);
        let body = r.json();
        let id = body["id"].as_str().unwrap().to_string();
        assert_ne!(id, "client-chosen", "the server assigns the id of a create");
        assert_eq!(body["meta"]["versionId"], "1");
        assert!(body["meta"]["lastUpdated"].as_str().unwrap().ends_with('Z'));
        assert_eq!(r.header("etag").unwrap(), "W/\"1\"");
        assert!(r.header("last-modified").unwrap().ends_with("GMT"));
        assert_eq!(r.header("location").unwrap(), app.url(&format!("Patient/{id}/_history/1")));
        assert!(r.header("content-type").unwrap().starts_with("application/fhir+json"));

        let read = app.get(&format!("Patient/{id}")).await.expect(200);
        assert_eq!(read.json(), body);
        assert_eq!(read.header("etag").unwrap(), "W/\"1\"");
        assert_eq!(without_server_meta(read.json())["name"], json!([{ "family": "Hartman", "given": ["Hendrik"] }]));
    }

    async fn update_keeps_every_version(app) {
        app.put_json("Patient/p1", &patient(Some("p1"), "Hartman")).await.expect(201);
        let second = app.put_json("Patient/p1", &patient(Some("p1"), "de Jong")).await.expect(200);
        assert_eq!(second.header("etag").unwrap(), "W/\"2\"");
        assert_eq!(second.json()["meta"]["versionId"], "2");

        let current = app.get("Patient/p1").await.expect(200).json();
        assert_eq!(current["name"][0]["family"], "de Jong");
        let v1 = app.get("Patient/p1/_history/1").await.expect(200);
        assert_eq!(v1.json()["name"][0]["family"], "Hartman");
        assert_eq!(v1.header("etag").unwrap(), "W/\"1\"");
        assert_eq!(app.get("Patient/p1/_history/2").await.expect(200).json(), current);
        let (code, _, _) = app.get("Patient/p1/_history/3").await.expect(404).issue();
        assert_eq!(code, "not-found");
        app.get("Patient/p1/_history/abc").await.expect(400);
    }

    async fn update_checks_type_and_id_against_the_url(app) {
        let (code, text, expr) = app.put_json("Patient/p1", &patient(Some("p2"), "X")).await.expect(400).issue();
        assert_eq!(code, "invalid");
        assert!(text.contains("p2") && text.contains("p1"), "{text}");
        assert_eq!(expr.as_deref(), Some("Patient.id"));

        let (code, _, expr) = app.put_json("Patient/p1", &patient(None, "X")).await.expect(400).issue();
        assert_eq!(code, "required");
        assert_eq!(expr.as_deref(), Some("Patient.id"));

        let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
        let (_, text, _) = app.post_json("Patient", &obs).await.expect(400).issue();
        assert!(text.contains("Observation") && text.contains("Patient"), "{text}");

        app.get("Patient/p1").await.expect(404);
    }

    async fn if_match_guards_updates_and_deletes(app) {
        app.put_json("Patient/p1", &patient(Some("p1"), "A")).await.expect(201);
        app.put_json("Patient/p1", &patient(Some("p1"), "B")).await.expect(200);

        let (code, text, _) = app
            .put_json_with("Patient/p1", &patient(Some("p1"), "stale"), &[("If-Match", "W/\"1\"")])
            .await
            .expect(412)
            .issue();
        assert_eq!(code, "conflict");
        assert!(text.contains('2'), "the answer names the current version: {text}");
        assert_eq!(app.get("Patient/p1").await.json()["name"][0]["family"], "B");

        app.put_json_with("Patient/p1", &patient(Some("p1"), "C"), &[("If-Match", "W/\"2\"")])
            .await
            .expect(200);
        app.put_json_with("Patient/p1", &patient(Some("p1"), "D"), &[("If-Match", "not-a-tag")])
            .await
            .expect(400);
        app.put_json_with("Patient/new", &patient(Some("new"), "D"), &[("If-Match", "W/\"1\"")])
            .await
            .expect(412);

        app.send(Method::DELETE, "Patient/p1", &[("If-Match", "W/\"1\"")], None).await.expect(412);
        app.get("Patient/p1").await.expect(200);
        app.send(Method::DELETE, "Patient/p1", &[("If-Match", "\"3\"")], None).await.expect(200);
        app.get("Patient/p1").await.expect(410);
    }

    async fn delete_is_logical_and_versioned(app) {
        app.put_json("Patient/p1", &patient(Some("p1"), "A")).await.expect(201);
        let del = app.delete("Patient/p1").await.expect(200);
        assert_eq!(del.header("etag").unwrap(), "W/\"2\"");
        assert_eq!(del.json()["resourceType"], "OperationOutcome");

        let (code, _, _) = app.get("Patient/p1").await.expect(410).issue();
        assert_eq!(code, "deleted");
        app.get("Patient/p1/_history/1").await.expect(200);
        app.get("Patient/p1/_history/2").await.expect(410);

        // Deleting again changes nothing; so does deleting what never existed.
        app.delete("Patient/p1").await.expect(200);
        app.delete("Patient/never").await.expect(200);
        let h = app.get("Patient/p1/_history").await.expect(200).json();
        assert_eq!(h["total"], 2);
        assert_eq!(h["entry"][0]["request"]["method"], "DELETE");
        assert!(h["entry"][0].get("resource").is_none());

        // A write after a delete brings the resource back as a new version.
        let back = app.put_json("Patient/p1", &patient(Some("p1"), "B")).await.expect(201);
        assert_eq!(back.json()["meta"]["versionId"], "3");
        app.get("Patient/p1").await.expect(200);

        let minimal = app.send(Method::DELETE, "Patient/p1", &[("Prefer", "return=minimal")], None).await;
        assert_eq!(minimal.status.as_u16(), 204);
        assert!(minimal.body.is_empty());
    }

    async fn conditional_read(app) {
        app.put_json("Patient/p1", &patient(Some("p1"), "A")).await.expect(201);
        let r = app.get_with("Patient/p1", &[("If-None-Match", "W/\"1\"")]).await.expect(304);
        assert!(r.body.is_empty());
        assert_eq!(r.header("etag").unwrap(), "W/\"1\"");
        app.get_with("Patient/p1", &[("If-None-Match", "W/\"7\"")]).await.expect(200);
        app.get_with("Patient/p1", &[("If-None-Match", "*")]).await.expect(304);

        app.get_with("Patient/p1", &[("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")]).await.expect(304);
        app.get_with("Patient/p1", &[("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")]).await.expect(200);
        let last_modified = app.get("Patient/p1").await.header("last-modified").unwrap();
        app.get_with("Patient/p1", &[("If-Modified-Since", &last_modified)]).await.expect(304);
    }

    async fn prefer_return(app) {
        let r = app
            .send(Method::POST, "Patient", &[("Content-Type", FHIR_JSON), ("Prefer", "return=minimal")],
                Some(patient(None, "A").to_string().into_bytes()))
            .await
            .expect(201);
        assert!(r.body.is_empty());
        assert!(r.header("location").is_some());
        assert_eq!(r.header("etag").unwrap(), "W/\"1\"");

        let r = app
            .send(Method::PUT, "Patient/p1", &[("Content-Type", FHIR_JSON), ("Prefer", "return=OperationOutcome")],
                Some(patient(Some("p1"), "A").to_string().into_bytes()))
            .await
            .expect(201);
        let oo = r.json();
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert_eq!(oo["issue"][0]["severity"], "information");

        let r = app
            .send(Method::PUT, "Patient/p1", &[("Content-Type", FHIR_JSON), ("Prefer", "return=representation")],
                Some(patient(Some("p1"), "B").to_string().into_bytes()))
            .await
            .expect(200);
        assert_eq!(r.json()["name"][0]["family"], "B");
    }

    async fn concurrent_updates_of_one_resource_all_land(app) {
        app.put_json("Patient/busy", &patient(Some("busy"), "start")).await.expect(201);
        let writers = (0..24).map(|i| {
            let app = &app;
            async move { app.put_json("Patient/busy", &patient(Some("busy"), &format!("w{i}"))).await }
        });
        let answers = futures_util::future::join_all(writers).await;
        for a in &answers {
            assert_eq!(a.status.as_u16(), 200, "{}", a.text());
        }
        let mut versions: Vec<i64> = answers
            .iter()
            .map(|a| a.json()["meta"]["versionId"].as_str().unwrap().parse().unwrap())
            .collect();
        versions.sort_unstable();
        assert_eq!(versions, (2..=25).collect::<Vec<i64>>(), "every write got its own version");
        let h = app.get("Patient/busy/_history?_count=100").await.expect(200).json();
        assert_eq!(h["total"], 25);
    }
}
