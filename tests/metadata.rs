//! The CapabilityStatement, health endpoints and the OpenAPI document.

mod common;

use common::*;
use serde_json::Value;

backend_tests! {
    async fn capability_statement_describes_the_server(app) {
        let cs = app.get("metadata").await.expect(200).json();
        assert_eq!(cs["resourceType"], "CapabilityStatement");
        assert_eq!(cs["fhirVersion"], "4.0.1");
        assert_eq!(cs["kind"], "instance");
        let formats: Vec<&str> = cs["format"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
        assert!(formats.contains(&"application/fhir+json") && formats.contains(&"application/fhir+xml"));
        let resources = cs["rest"][0]["resource"].as_array().unwrap();
        let patient = resources.iter().find(|r| r["type"] == "Patient").expect("Patient is listed");
        let codes: Vec<&str> = patient["interaction"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap()).collect();
        for c in ["read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"] {
            assert!(codes.contains(&c), "{c} missing");
        }
        assert_eq!(patient["conditionalCreate"], true);
        assert_eq!(patient["conditionalUpdate"], true);
        assert_eq!(patient["conditionalDelete"], "single");
        let system: Vec<&str> = cs["rest"][0]["interaction"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap()).collect();
        assert_eq!(system, ["transaction", "batch", "history-system"]);
        let params: Vec<&str> = patient["searchParam"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        for p in ["_id", "_lastUpdated", "_has", "identifier", "family", "birthdate"] {
            assert!(params.contains(&p), "{p} missing");
        }
        let consent = resources.iter().find(|r| r["type"] == "Consent").unwrap();
        assert!(consent["searchInclude"].as_array().unwrap().contains(&serde_json::json!("Consent:actor")));
        assert!(patient["searchRevInclude"].as_array().unwrap().contains(&serde_json::json!("Observation:subject")));
        assert!(resources.iter().all(|r| r["type"] != "Medication"));
        // Every listed type really answers.
        for r in resources {
            let t = r["type"].as_str().unwrap();
            app.get(&format!("{t}/does-not-exist")).await.expect(404);
        }
        let xml = app.get("metadata?_format=xml").await.expect(200).text();
        assert!(xml.contains("<fhirVersion value=\"4.0.1\"/>"), "{xml}");
    }

    async fn health_and_readiness(app) {
        assert_eq!(app.get("health").await.expect(200).json()["status"], "ok");
        let ready = app.get("ready").await.expect(200).json();
        assert_eq!(ready["status"], "ready");
        let expected = if app.db == Db::Postgres { "PostgreSQL" } else { "SQLite" };
        assert_eq!(ready["database"], expected);
    }
}

#[actix_rt::test]
async fn openapi_document_is_served_and_committed_file_is_current() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let served: Value = app.get("openapi.json").await.expect(200).json();
    let generated = pzp_fhir::http::openapi::document();
    assert_eq!(served, serde_json::from_str::<Value>(&generated).unwrap());
    for path in ["/{type}/{id}", "/{type}", "/_history", "/metadata"] {
        assert!(served["paths"].get(path).is_some(), "{path} is documented");
    }
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale; regenerate it with: cargo run -- openapi > openapi/openapi.json"
    );
    let docs = app.get("docs/").await.expect(200).text();
    assert!(docs.contains("swagger"), "{docs}");
}
