//! PATCH with JSON Patch: applied to the current version, checked, versioned, guarded by
//! If-Match, and race-free under concurrent patches.

mod common;

use actix_web::http::Method;
use common::*;
use serde_json::{json, Value};

const JSON_PATCH: &str = "application/json-patch+json";

async fn patch(app: &TestApp, path: &str, ops: Value, headers: &[(&str, &str)]) -> Resp {
    let mut h = vec![("Content-Type", JSON_PATCH)];
    h.extend_from_slice(headers);
    app.send(Method::PATCH, path, &h, Some(ops.to_string().into_bytes()))
        .await
}

fn patient() -> Value {
    json!({ "resourceType": "Patient", "id": "p1", "name": [{ "family": "Hartman", "given": ["Hendrik"] }] })
}

backend_tests! {
    async fn patch_creates_a_new_version(app) {
        app.put_json("Patient/p1", &patient()).await.expect(201);
        let ops = json!([
            { "op": "replace", "path": "/name/0/family", "value": "de Jong" },
            { "op": "add", "path": "/telecom", "value": [{ "system": "phone", "value": "+31 6 12345678" }] },
            { "op": "add", "path": "/birthDate", "value": "1941-05-17" }
        ]);
        let r = patch(&app, "Patient/p1", ops, &[]).await.expect(200);
        assert_eq!(r.header("etag").unwrap(), "W/\"2\"");
        let p = r.json();
        assert_eq!(p["name"][0]["family"], "de Jong");
        assert_eq!(p["telecom"][0]["value"], "+31 6 12345678");
        assert_eq!(app.get("Patient/p1").await.json(), p);
        assert_eq!(app.get("Patient/p1/_history/1").await.json()["name"][0]["family"], "Hartman");
        let h = app.get("Patient/p1/_history").await.json();
        assert_eq!(h["entry"][0]["request"]["method"], "PATCH");
    }

    async fn patch_honours_if_match(app) {
        app.put_json("Patient/p1", &patient()).await.expect(201);
        let ops = json!([{ "op": "add", "path": "/active", "value": true }]);
        patch(&app, "Patient/p1", ops.clone(), &[("If-Match", "W/\"2\"")]).await.expect(412);
        assert!(app.get("Patient/p1").await.json().get("active").is_none());
        patch(&app, "Patient/p1", ops, &[("If-Match", "W/\"1\"")]).await.expect(200);
    }

    async fn bad_patches_change_nothing(app) {
        app.put_json("Patient/p1", &patient()).await.expect(201);
        let (code, _, _) = patch(&app, "Patient/p1", json!({ "op": "add" }), &[]).await.expect(400).issue();
        assert_eq!(code, "structure");
        patch(&app, "Patient/p1", json!([{ "op": "jump", "path": "/a" }]), &[]).await.expect(400);

        let (code, text, _) = patch(&app, "Patient/p1", json!([{ "op": "test", "path": "/name/0/family", "value": "X" }]), &[])
            .await.expect(422).issue();
        assert_eq!(code, "processing");
        assert!(text.contains("cannot be applied"), "{text}");
        patch(&app, "Patient/p1", json!([{ "op": "remove", "path": "/nothing" }]), &[]).await.expect(422);

        let (code, _, expr) = patch(&app, "Patient/p1", json!([{ "op": "add", "path": "/birthDate", "value": "17-05-1941" }]), &[])
            .await.expect(422).issue();
        assert_eq!(code, "value");
        assert_eq!(expr.as_deref(), Some("Patient.birthDate"));
        patch(&app, "Patient/p1", json!([{ "op": "add", "path": "/unknownThing", "value": 1 }]), &[]).await.expect(422);
        let (_, _, expr) = patch(&app, "Patient/p1", json!([{ "op": "replace", "path": "/id", "value": "p2" }]), &[])
            .await.expect(422).issue();
        assert_eq!(expr.as_deref(), Some("Patient.id"));
        patch(&app, "Patient/p1", json!([{ "op": "replace", "path": "/resourceType", "value": "Group" }]), &[])
            .await.expect(422);

        let (code, text, _) = app
            .send(Method::PATCH, "Patient/p1", &[("Content-Type", FHIR_JSON)], Some(b"[]".to_vec()))
            .await.expect(415).issue();
        assert_eq!(code, "not-supported");
        assert!(text.contains("json-patch"), "{text}");

        let current = app.get("Patient/p1").await.expect(200).json();
        assert_eq!(current["meta"]["versionId"], "1", "nothing was stored");

        patch(&app, "Patient/nope", json!([]), &[]).await.expect(404).issue();
        app.delete("Patient/p1").await.expect(200);
        patch(&app, "Patient/p1", json!([]), &[]).await.expect(410).issue();
    }

    async fn concurrent_patches_all_land(app) {
        app.put_json("Patient/p1", &json!({ "resourceType": "Patient", "id": "p1", "name": [{ "given": ["start"] }] }))
            .await.expect(201);
        let patches = (0..16).map(|i| {
            let app = &app;
            async move {
                patch(app, "Patient/p1", json!([{ "op": "add", "path": "/name/0/given/-", "value": format!("g{i}") }]), &[]).await
            }
        });
        for r in futures_util::future::join_all(patches).await {
            assert_eq!(r.status.as_u16(), 200, "{}", r.text());
        }
        let p = app.get("Patient/p1").await.expect(200).json();
        assert_eq!(p["name"][0]["given"].as_array().unwrap().len(), 17, "no patch was lost: {p}");
        assert_eq!(p["meta"]["versionId"], "17");
    }
}
