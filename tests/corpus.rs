//! Round trip of the shared conformance corpus: every official R4 example and every IKNL PZP
//! example is stored under its own id and read back, as JSON and as XML, unchanged.

mod common;

use actix_web::http::Method;
use common::*;
use serde_json::Value;

async fn round_trip(app: &TestApp) {
    let Some(files) = conformance_files(&["r4-examples", "iknl/examples"]) else {
        eprintln!("skipped: shared/conformance is not beside this checkout");
        return;
    };
    assert!(
        files.len() >= 290,
        "expected the whole corpus, found {}",
        files.len()
    );
    let all: Vec<Value> = files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect();
    register_missing_patients(app, &all).await;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        let input: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let path = path_of(&input);
        let put = app.put_json(&path, &input).await;
        if name == "Questionnaire-zika-virus-exposure-assessment.json" {
            // Its narrative is an empty <pre>: FHIR's txt-2 wants some content.
            assert_eq!(put.status.as_u16(), 400, "{name}: {}", put.text());
            assert!(put.text().contains("txt-2"), "{name}: {}", put.text());
            continue;
        }
        if input["resourceType"] == "AuditEvent" {
            // The audit trail is the server's own; no client writes into it.
            assert_eq!(put.status.as_u16(), 405, "{name}: {}", put.text());
            continue;
        }
        assert_eq!(put.status.as_u16(), 201, "{name}: {}", put.text());

        let json = app.get(&path).await.expect(200).json();
        assert_eq!(
            without_server_meta(json),
            without_server_meta(input.clone()),
            "{name}: JSON read differs"
        );

        let xml = app
            .get_with(&path, &[("Accept", FHIR_XML)])
            .await
            .expect(200);
        let from_xml = fhir_format::parse(&xml.body, fhir_format::Format::Xml)
            .unwrap_or_else(|e| panic!("{name}: XML answer does not parse: {e:?}"));
        assert_eq!(
            without_server_meta(from_xml),
            without_server_meta(input.clone()),
            "{name}: XML read differs"
        );

        // The XML goes back in as a new version and still equals the original.
        app.send(
            Method::PUT,
            &path,
            &[("Content-Type", FHIR_XML)],
            Some(xml.body),
        )
        .await
        .expect(200);
        let again = app.get(&path).await.expect(200).json();
        assert_eq!(
            without_server_meta(again),
            without_server_meta(input.clone()),
            "{name}: XML write changed it"
        );
    }
    eprintln!("round-tripped {} files", files.len());
}

backend_tests! {
    async fn every_conformance_example_round_trips(app) {
        round_trip(&app).await;
    }
}
