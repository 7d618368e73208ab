//! JSON and XML in and out: negotiation, lossless conversion (decimals, unicode, primitive
//! extensions), pretty printing.

mod common;

use actix_web::http::Method;
use common::*;
use serde_json::{json, Value};

fn observation() -> Value {
    json!({
        "resourceType": "Observation",
        "id": "weight",
        "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "29463-7", "display": "Body weight" }] },
        "subject": { "reference": "Patient/p1", "display": "Émile van der Sluijs-Ğürsel" },
        "valueQuantity": { "value": 72.50, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg" },
        "note": [{ "text": "gewogen na het ontbijt — 72,50 kg 😊" }]
    })
}

const OBSERVATION_TEXT: &str = r#"{"resourceType":"Observation","id":"weight","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},"valueQuantity":{"value":72.50,"unit":"kg"},"component":[{"code":{"text":"a"},"valueQuantity":{"value":1.000}}]}"#;

fn patient_with_primitive_extension() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "p1",
        "extension": [{ "url": "http://example.org/ext", "valueString": "ext" }],
        "name": [{ "family": "Sluijs", "_family": { "extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/humanname-own-prefix", "valueString": "van der" }] },
            "given": ["Samira"] }],
        "birthDate": "1950-02-03",
        "_birthDate": { "extension": [{ "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
            "valueDateTime": "1950-02-03T14:35:45+01:00" }] }
    })
}

backend_tests! {
    async fn json_in_xml_out_and_back(app) {
        for resource in [patient_with_primitive_extension(), observation()] {
            let path = path_of(&resource);
            app.put_json(&path, &resource).await.expect(201);
            let xml = app.get_with(&path, &[("Accept", FHIR_XML)]).await.expect(200);
            assert!(xml.header("content-type").unwrap().starts_with(FHIR_XML));
            let xml_text = xml.text();
            assert!(xml_text.contains("xmlns=\"http://hl7.org/fhir\""), "{xml_text}");

            // Store the XML as a new version and read it back as JSON: nothing lost.
            app.send(Method::PUT, &path, &[("Content-Type", FHIR_XML)], Some(xml.body.clone())).await.expect(200);
            let back = app.get(&path).await.expect(200).json();
            assert_eq!(back["meta"]["versionId"], "2");
            assert_eq!(without_server_meta(back), resource);
        }
    }

    async fn decimals_keep_their_precision(app) {
        let r = app
            .send(Method::PUT, "Observation/weight", &[("Content-Type", FHIR_JSON)], Some(OBSERVATION_TEXT.as_bytes().to_vec()))
            .await
            .expect(201);
        assert!(r.text().contains("\"value\":72.50"), "{}", r.text());
        assert!(r.text().contains("\"value\":1.000"), "{}", r.text());
        let xml = app.get("Observation/weight?_format=xml").await.expect(200).text();
        assert!(xml.contains("value=\"72.50\""), "{xml}");
        assert!(xml.contains("value=\"1.000\""), "{xml}");
        let json = app.get("Observation/weight?_format=json").await.expect(200).text();
        assert!(json.contains("72.50") && json.contains("1.000"), "{json}");
    }

    async fn xml_in_json_out(app) {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Patient xmlns="http://hl7.org/fhir">
  <name><family value="Hartman"/><given value="Hendrik"/></name>
  <gender value="male"/>
  <birthDate value="1941-05-17"/>
</Patient>"#;
        let r = app
            .send(Method::POST, "Patient", &[("Content-Type", "application/fhir+xml; charset=utf-8"), ("Accept", FHIR_JSON)], Some(xml.as_bytes().to_vec()))
            .await
            .expect(201);
        let p = r.json();
        assert_eq!(p["name"][0]["family"], "Hartman");
        assert_eq!(p["birthDate"], "1941-05-17");
        let id = p["id"].as_str().unwrap();
        let again = app.get_with(&format!("Patient/{id}"), &[("Accept", "application/xml")]).await.expect(200).text();
        assert!(again.contains("<family value=\"Hartman\"/>"), "{again}");
        assert!(again.contains(&format!("<id value=\"{id}\"/>")), "{again}");
    }

    async fn format_parameter_and_accept(app) {
        app.put_json("Patient/p1", &patient_with_primitive_extension()).await.expect(201);
        for (path, accept, xml) in [
            ("Patient/p1?_format=xml", None, true),
            ("Patient/p1?_format=application/fhir%2Bxml", None, true),
            ("Patient/p1?_format=application/fhir+xml", None, true),
            ("Patient/p1?_format=json", Some(FHIR_XML), false),
            ("Patient/p1", Some("application/json"), false),
            ("Patient/p1", Some("text/xml"), true),
            ("Patient/p1", Some("application/fhir+xml;q=0.2, application/fhir+json;q=0.9"), false),
            ("Patient/p1", Some("*/*"), false),
        ] {
            let headers: Vec<(&str, &str)> = accept.map(|a| vec![("Accept", a)]).unwrap_or_default();
            let r = app.get_with(path, &headers).await.expect(200);
            let ct = r.header("content-type").unwrap();
            assert_eq!(ct.starts_with(FHIR_XML), xml, "{path} {accept:?} gave {ct}");
        }
    }

    async fn pretty_printing(app) {
        app.put_json("Patient/p1", &patient_with_primitive_extension()).await.expect(201);
        let plain = app.get("Patient/p1").await.text();
        assert!(!plain.contains('\n'));
        let pretty = app.get("Patient/p1?_pretty=true").await.expect(200);
        assert!(pretty.text().contains("\n  \"id\": \"p1\""), "{}", pretty.text());
        assert_eq!(pretty.json(), serde_json::from_str::<Value>(&plain).unwrap());
        let xml = app.get("Patient/p1?_format=xml&_pretty=true").await.expect(200).text();
        assert!(xml.lines().count() > 5, "{xml}");
    }
}
