//! Every error path answers an OperationOutcome with the right status, and bad input never
//! gets stored.

mod common;

use actix_web::http::Method;
use common::*;
use serde_json::json;

async fn nothing_stored(app: &TestApp) {
    assert_eq!(app.stored_versions().await, 0, "nothing may be stored");
}

backend_tests! {
    async fn unknown_paths_types_and_methods(app) {
        let (code, text, _) = app.get("Foo/1").await.expect(404).issue();
        assert_eq!(code, "not-found");
        assert!(text.contains("unknown resource type 'Foo'"), "{text}");
        let (_, text, _) = app.get("Medication/1").await.expect(404).issue();
        assert!(text.contains("not supported"), "{text}");
        app.get("Patient/p1/_history/1/extra/path").await.expect(404).issue();
        app.post_json("Foo", &json!({"resourceType": "Foo"})).await.expect(404).issue();

        let (code, _, _) = app.send(Method::OPTIONS, "Patient/p1", &[], None).await.expect(405).issue();
        assert_eq!(code, "not-supported");
        app.send(Method::POST, "Patient/p1", &[("Content-Type", FHIR_JSON)], Some(b"{}".to_vec())).await.expect(405).issue();
        app.send(Method::PATCH, "Patient", &[], None).await.expect(405).issue();
        // DELETE on a type is a conditional delete, which needs parameters.
        let (code, text, _) = app.send(Method::DELETE, "Patient", &[], None).await.expect(400).issue();
        assert_eq!(code, "required");
        assert!(text.contains("search parameters"), "{text}");
        app.send(Method::POST, "_history", &[], None).await.expect(405).issue();

        let (code, _, _) = app.get("Patient/bad_id").await.expect(400).issue();
        assert_eq!(code, "value");
        app.put_json("Patient/bad_id", &json!({"resourceType": "Patient", "id": "bad_id"})).await.expect(400);
        nothing_stored(&app).await;
    }

    async fn unsupported_formats(app) {
        app.put_json("Patient/p1", &json!({"resourceType": "Patient", "id": "p1"})).await.expect(201);
        let r = app.get_with("Patient/p1", &[("Accept", "image/png")]).await.expect(406);
        assert_eq!(r.issue().0, "not-supported");
        app.get("Patient/p1?_format=turtle").await.expect(406).issue();

        let body = Some(json!({"resourceType": "Patient"}).to_string().into_bytes());
        let (code, text, _) = app.send(Method::POST, "Patient", &[("Content-Type", "text/plain")], body.clone()).await.expect(415).issue();
        assert_eq!(code, "not-supported");
        assert!(text.contains("text/plain"), "{text}");
        app.send(Method::POST, "Patient", &[], body.clone()).await.expect(415).issue();
        app.send(Method::POST, "Patient", &[("Content-Type", "application/x-www-form-urlencoded")], body).await.expect(415);
        assert_eq!(app.stored_versions().await, 1);
    }

    async fn malformed_bodies_are_refused_and_not_stored(app) {
        let send = |body: &'static str| {
            let app = &app;
            async move {
                app.send(Method::POST, "Patient", &[("Content-Type", FHIR_JSON)], Some(body.as_bytes().to_vec())).await
            }
        };
        send("{not json").await.expect(400).issue();
        send("").await.expect(400).issue();
        send("[1,2]").await.expect(400).issue();
        send(r#"{"resourceType":"Patient","name":[]}"#).await.expect(400).issue();
        let (code, text, expr) = send(r#"{"resourceType":"Patient","birthDate":"17-05-1941"}"#).await.expect(400).issue();
        assert_eq!(code, "value");
        assert!(text.contains("17-05-1941"), "{text}");
        assert_eq!(expr.as_deref(), Some("Patient.birthDate"));
        let (code, _, expr) = send(r#"{"resourceType":"Patient","foo":1}"#).await.expect(400).issue();
        assert_eq!(code, "structure");
        assert!(expr.is_some_and(|e| e.contains("foo")));
        send(r#"{"resourceType":"Patient","gender":"xyz ","active":"yes"}"#).await.expect(400);
        send(r#"{"resourceType":"Patient","id":"with space"}"#).await.expect(400);
        send(r#"{"resourceType":"Patient","name":[{"given":"Hendrik"}]}"#).await.expect(400);

        let xml = |body: &'static str| {
            let app = &app;
            async move {
                app.send(Method::POST, "Patient", &[("Content-Type", FHIR_XML)], Some(body.as_bytes().to_vec())).await
            }
        };
        xml("<Patient xmlns=\"http://hl7.org/fhir\"><birthDate value=\"1941").await.expect(400).issue();
        xml("<Patient><active value=\"true\"/></Patient>").await.expect(400).issue();
        xml("<Patient xmlns=\"http://hl7.org/fhir\"><birthDate value=\"17-05-1941\"/></Patient>").await.expect(400).issue();

        // The server is still up and nothing was stored.
        app.get("metadata").await.expect(200);
        nothing_stored(&app).await;
    }

    async fn errors_use_the_requested_format(app) {
        let r = app.get_with("Patient/missing", &[("Accept", FHIR_XML)]).await.expect(404);
        assert!(r.header("content-type").unwrap().starts_with(FHIR_XML));
        let text = r.text();
        assert!(text.contains("<OperationOutcome") && text.contains("not-found"), "{text}");
        let r = app.get("Patient/missing?_format=xml").await.expect(404);
        assert!(r.text().contains("<OperationOutcome"));
    }
}

#[actix_rt::test]
async fn bodies_over_the_limit_get_413() {
    for db in [Db::Sqlite, Db::Postgres] {
        let Some(app) = spawn_app_with(
            db,
            Options {
                max_body_bytes: 2048,
                ..Options::default()
            },
        )
        .await
        else {
            eprintln!("skipped on {db:?}: PZP_TEST_DATABASE_URL is not set");
            continue;
        };
        let big = json!({"resourceType": "Patient", "name": [{"text": "x".repeat(4096)}]});
        let (code, text, _) = app.post_json("Patient", &big).await.expect(413).issue();
        assert_eq!(code, "too-long");
        assert!(text.contains("2048"), "{text}");
        let small = json!({"resourceType": "Patient", "name": [{"text": "x"}]});
        app.post_json("Patient", &small).await.expect(201);
    }
}
