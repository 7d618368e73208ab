//! Attacks a hostile caller or an unlucky production day would try, each on both backends:
//! cross-patient leaks, existence oracles, denial of service, content FHIR forbids, forged
//! headers, a second Patient for one BSN and long-lived tokens. The world: the test
//! organisation's system (URA [`OWN_URA`]) registers patient `p1` with a plan; an outsider
//! organisation (URA [`OUTSIDER_URA`]) has no relation with `p1` at all.

mod common;

use actix_web::http::Method;
use common::*;
use pzp_fhir::auth::token::Claims;
use serde_json::{json, Value};

const SCT: &str = "http://snomed.info/sct";
const BSN: &str = "http://fhir.nl/fhir/NamingSystem/bsn";
const OUTSIDER_URA: &str = "22222222";
const P1_BSN: &str = "999911120";
const P2_BSN: &str = "999990019";

fn patient(id: &str, bsn: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "name": [{"family": "de Vries"}],
           "identifier": [{"system": BSN, "value": bsn}]})
}

/// "not legally capable": makes `$validate` of the patient warn (IKNL ACP-Patient-1).
fn not_capable(id: &str, patient: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": SCT, "code": "665671000146101"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": "2026-10-01", "valueBoolean": false})
}

fn wish(id: &str, patient: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": SCT, "code": "153851000146100"}]},
        "method": {"coding": [{"system": SCT, "code": "370819000"}]},
        "subject": {"reference": format!("Patient/{patient}")}, "valueString": "thuis sterven"})
}

fn system_token(app: &TestApp, ura: &str) -> String {
    app.token_for(Claims {
        pzp_role: Some("system".into()),
        ura: Some(ura.into()),
        scope: Some("system/*.cruds".into()),
        ..Claims::default()
    })
}

fn patient_token(app: &TestApp, bsn: &str) -> String {
    app.token_for(Claims {
        pzp_role: Some("patient".into()),
        bsn: Some(bsn.into()),
        scope: Some("patient/*.rs".into()),
        ..Claims::default()
    })
}

/// Registers p1 (with a wish and "not legally capable") and p2, as the test organisation.
async fn world(app: &TestApp) {
    app.put_all(vec![
        patient("p1", P1_BSN),
        not_capable("lc-p1", "p1"),
        wish("wish-p1", "p1"),
        patient("p2", P2_BSN),
        wish("wish-p2", "p2"),
    ])
    .await;
}

async fn send_as(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> Resp {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(t) = content_type {
        headers.push(("Content-Type", t));
    }
    app.send(method, path, &headers, body).await
}

/// An answer as a caller can compare it: status, issue code and text with the id asked for
/// replaced by `<id>`.
fn shape(r: &Resp, id: &str) -> (u16, String) {
    (r.status.as_u16(), r.text().replace(id, "<id>"))
}

/// The same request for a hidden resource and for an absent one must answer alike.
async fn same_answer(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Fn(&str) -> Option<Vec<u8>>,
) -> u16 {
    let hidden = send_as(
        app,
        token,
        method.clone(),
        &path.replace("{id}", "wish-p1"),
        content_type,
        body("wish-p1"),
    )
    .await;
    let absent = send_as(
        app,
        token,
        method.clone(),
        &path.replace("{id}", "never-was"),
        content_type,
        body("never-was"),
    )
    .await;
    let (h, a) = (shape(&hidden, "wish-p1"), shape(&absent, "never-was"));
    let strip = |t: &str| {
        // Bundle ids and timestamps differ between any two answers.
        let mut v: Value = serde_json::from_str(t).unwrap_or(Value::String(t.into()));
        if let Some(o) = v.as_object_mut() {
            o.remove("id");
            o.remove("meta");
        }
        v
    };
    assert_eq!(h.0, a.0, "{method} {path}: hidden {h:?} vs absent {a:?}");
    assert_eq!(strip(&h.1), strip(&a.1), "{method} {path}");
    h.0
}

/// The server still answers after an attack.
async fn alive(app: &TestApp) {
    app.get("metadata").await.expect(200);
    app.get("Patient/p1").await.expect(200);
}

fn nested_json(levels: usize) -> Vec<u8> {
    let mut inner = String::from("{\"url\":\"http://x\",\"valueString\":\"x\"}");
    for _ in 0..levels {
        inner = format!("{{\"url\":\"http://x\",\"extension\":[{inner}]}}");
    }
    format!("{{\"resourceType\":\"Patient\",\"extension\":[{inner}]}}").into_bytes()
}

fn nested_xml(levels: usize) -> Vec<u8> {
    let open = "<extension url=\"http://x\">".repeat(levels);
    let close = "</extension>".repeat(levels);
    format!(
        "<Patient xmlns=\"http://hl7.org/fhir\">{open}<valueString value=\"x\"/>{close}</Patient>"
    )
    .into_bytes()
}

fn issue_code(r: &Resp) -> String {
    r.json()["issue"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

backend_tests! {
    async fn validate_reports_nothing_of_a_patient_the_caller_may_not_see(app) {
        world(&app).await;
        let body = json!({"resourceType": "Patient", "id": "p1"}).to_string().into_bytes();
        // The organisation that keeps the record is warned...
        let own = app.send(Method::POST, "Patient/$validate", &[("Content-Type", FHIR_JSON)], Some(body.clone())).await;
        assert!(own.expect(200).text().contains("lc-p1"));
        // ...an outsider learns nothing, at type and at instance level.
        let outsider = system_token(&app, OUTSIDER_URA);
        for path in ["Patient/$validate", "Patient/p1/$validate"] {
            let r = send_as(&app, &outsider, Method::POST, path, Some(FHIR_JSON), Some(body.clone())).await;
            let text = r.expect(200).text();
            assert!(!text.contains("lc-p1") && !text.contains("legally"), "{path}: {text}");
        }
        let patient = patient_token(&app, P2_BSN);
        let r = send_as(&app, &patient, Method::POST, "Patient/$validate", Some(FHIR_JSON), Some(body)).await;
        assert!(!r.text().contains("lc-p1"), "{}", r.text());
    }

    async fn a_patient_reads_only_their_own_part_of_the_audit_trail(app) {
        world(&app).await;
        // A professional's search that returns both patients.
        app.get("Observation?subject=Patient/p1,Patient/p2&_revinclude=Provenance:target").await.expect(200);
        let p1 = patient_token(&app, P1_BSN);
        let trail = send_as(&app, &p1, Method::GET, "AuditEvent?patient=p1&_count=1000", None, None).await.expect(200).json();
        let text = trail.to_string();
        assert!(trail["entry"].as_array().is_some_and(|e| !e.is_empty()), "{trail}");
        assert!(text.contains("Patient/p1"));
        for other in ["Patient/p2", "wish-p2", "subject=", "Provenance:target"] {
            assert!(!text.contains(other), "{other} shows in p1's trail: {text}");
        }
        // p1 can see that their wish was read, and who read it.
        assert!(text.contains("wish-p1") && text.contains(OWN_URA), "{text}");
        // Another patient's trail looks like that of a patient without one.
        let other = send_as(&app, &p1, Method::GET, "AuditEvent?patient=p2", None, None).await.expect(200).json();
        assert!(other["entry"].is_null(), "{other}");
        let r = send_as(&app, &p1, Method::GET, "AuditEvent?entity=Observation/wish-p2", None, None).await;
        assert_eq!(r.status.as_u16(), 403, "{}", r.text());
        let r = send_as(&app, &p1, Method::GET, "Patient?_id=p1&_revinclude=AuditEvent:patient", None, None).await;
        assert!(!r.text().contains("Patient/p2"), "{}", r.text());
    }

    async fn a_hidden_resource_answers_like_an_absent_one(app) {
        world(&app).await;
        let outsider = system_token(&app, OUTSIDER_URA);
        let patch = |_: &str| Some(br#"[{"op":"replace","path":"/status","value":"amended"}]"#.to_vec());
        let none = |_: &str| None;
        assert_eq!(same_answer(&app, &outsider, Method::GET, "Observation/{id}", None, none).await, 404);
        assert_eq!(same_answer(&app, &outsider, Method::GET, "Observation/{id}/_history/1", None, none).await, 404);
        assert_eq!(same_answer(&app, &outsider, Method::GET, "Observation/{id}/_history", None, none).await, 404);
        same_answer(&app, &outsider, Method::DELETE, "Observation/{id}", None, none).await;
        assert_eq!(same_answer(&app, &outsider, Method::PATCH, "Observation/{id}", Some("application/json-patch+json"), patch).await, 404);
        same_answer(&app, &outsider, Method::DELETE, "Observation?_id={id}", None, none).await;
        // A create that refers to a hidden patient and one that refers to an unknown one.
        let refer = |id: &str| Some(wish("x", id).to_string().into_bytes());
        let r = send_as(&app, &outsider, Method::POST, "Observation", Some(FHIR_JSON), refer("p1")).await;
        let unknown = send_as(&app, &outsider, Method::POST, "Observation", Some(FHIR_JSON), refer("nobody")).await;
        assert_eq!(r.status.as_u16(), 403);
        assert_eq!(shape(&r, "p1"), shape(&unknown, "nobody"));
        // A patient token may write nothing: 403 before anything is looked up.
        let patient = patient_token(&app, P2_BSN);
        let put = |id: &str| Some(wish(id, "p2").to_string().into_bytes());
        assert_eq!(same_answer(&app, &patient, Method::PUT, "Observation/{id}", Some(FHIR_JSON), put).await, 403);
        assert_eq!(same_answer(&app, &patient, Method::PATCH, "Observation/{id}", Some("application/json-patch+json"), patch).await, 403);
        assert_eq!(same_answer(&app, &patient, Method::DELETE, "Observation/{id}", None, none).await, 403);
        // A PUT to a hidden id cannot create: it says that the id is taken, nothing more.
        let r = send_as(&app, &outsider, Method::PUT, "Observation/wish-p1", Some(FHIR_JSON), put("wish-p1")).await;
        assert_eq!(r.status.as_u16(), 409, "{}", r.text());
        assert!(!r.text().contains("p1\"") && !r.text().contains("thuis"), "{}", r.text());
        // Nothing was changed by any of it.
        let wish = app.get("Observation/wish-p1").await.expect(200).json();
        assert_eq!(wish["meta"]["versionId"], "1");
        assert_eq!(wish["status"], "final");
    }

    async fn deep_nesting_is_refused_without_harm(app) {
        world(&app).await;
        for levels in [640, 100_000] {
            let r = app.send(Method::POST, "Patient", &[("Content-Type", FHIR_JSON)], Some(nested_json(levels))).await;
            assert_eq!(r.status.as_u16(), 400, "JSON {levels}: {}", r.text());
            let r = app.send(Method::POST, "Patient", &[("Content-Type", FHIR_XML)], Some(nested_xml(levels))).await;
            assert_eq!(r.status.as_u16(), 400, "XML {levels}: {}", r.text());
            let r = app.send(Method::POST, "Patient/$validate", &[("Content-Type", FHIR_XML)], Some(nested_xml(levels))).await;
            assert!(r.status.as_u16() < 500, "$validate XML {levels}: {}", r.text());
        }
        alive(&app).await;
    }

    async fn a_patch_that_multiplies_itself_is_refused(app) {
        world(&app).await;
        let mut ops = vec![json!({"op": "add", "path": "/name/0/given", "value": ["a", "b"]})];
        for _ in 0..60 {
            ops.push(json!({"op": "copy", "from": "/name/0/given", "path": "/name/0/given/-"}));
        }
        let too_many: Vec<Value> = (0..1_000).map(|_| json!({"op": "test", "path": "/id", "value": "p1"})).collect();
        for body in [Value::Array(ops.clone()), Value::Array(too_many)] {
            let r = app.send(Method::PATCH, "Patient/p1", &[("Content-Type", "application/json-patch+json")], Some(body.to_string().into_bytes())).await;
            assert_eq!(r.status.as_u16(), 400, "{}", r.text());
            assert_eq!(issue_code(&r), "too-costly");
        }
        let copies = ops.iter().skip(1).take(20).cloned();
        let fine: Vec<Value> = [ops[0].clone()].into_iter().chain(copies).collect();
        let r = app.send(Method::PATCH, "Patient/p1", &[("Content-Type", "application/json-patch+json")], Some(Value::Array(fine).to_string().into_bytes())).await;
        assert!(r.status.as_u16() < 500, "{}", r.text());
        alive(&app).await;
    }

    async fn searches_past_their_bounds_are_refused(app) {
        world(&app).await;
        let iterate = "&_revinclude:iterate=Provenance:target".repeat(500);
        let values = (0..1_000).map(|i| format!("Patient/x{i}")).collect::<Vec<_>>().join(",");
        let mut has = String::from("_has:Observation:subject:code");
        for _ in 0..20 {
            has = format!("_has:Observation:subject:{has}");
        }
        let many = (0..400).map(|i| format!("name=n{i}")).collect::<Vec<_>>().join("&");
        for query in [
            format!("Patient?_id=p1{iterate}"),
            format!("Observation?subject={values}"),
            format!("Patient?{has}=1234"),
            format!("Patient?{many}"),
        ] {
            let r = app.get(&query).await;
            assert_eq!(r.status.as_u16(), 400, "{}: {}", &query[..60], r.text());
            assert_eq!(issue_code(&r), "too-costly");
        }
        // Within the bounds the same kinds of query answer.
        app.get("Patient?_id=p1&_revinclude:iterate=Provenance:target").await.expect(200);
        app.get("Observation?subject=Patient/p1,Patient/p2").await.expect(200);
        alive(&app).await;
    }

    async fn a_bundle_past_its_bound_is_refused_and_changes_nothing(app) {
        world(&app).await;
        let before = app.stored_versions().await;
        let entries: Vec<Value> = (0..10_000)
            .map(|i| json!({"fullUrl": format!("urn:uuid:00000000-0000-0000-0000-{i:012}"),
                            "resource": wish(&format!("w{i}"), "p1"),
                            "request": {"method": "POST", "url": "Observation"}}))
            .collect();
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
        let r = app.post_json("", &bundle).await;
        assert_eq!(r.status.as_u16(), 400, "{}", &r.text()[..200.min(r.text().len())]);
        assert_eq!(app.stored_versions().await, before);
        alive(&app).await;
    }

    async fn content_fhir_forbids_is_not_stored(app) {
        world(&app).await;
        let before = app.stored_versions().await;
        let with_div = |div: &str| json!({"resourceType": "Patient",
            "text": {"status": "generated", "div": div}, "name": [{"family": "X"}]});
        let script = with_div("<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)</script>x</div>");
        let handler = with_div("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p onclick=\"alert(1)\">x</p></div>");
        let nested = json!({"resourceType": "Patient", "name": [{"family": "X"}],
            "contained": [{"resourceType": "Organization", "id": "o", "name": "O",
                "contained": [{"resourceType": "Organization", "id": "o2", "name": "O2"}]}],
            "managingOrganization": {"reference": "#o"}});
        for body in [script, handler, nested] {
            let r = app.post_json("Patient", &body).await;
            assert!(matches!(r.status.as_u16(), 400 | 422), "{body}: {}", r.text());
        }
        let xml = b"<Patient xmlns=\"http://hl7.org/fhir\"><text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\"><img src=\"x\" onerror=\"alert(1)\"/>x</div></text></Patient>".to_vec();
        let r = app.send(Method::POST, "Patient", &[("Content-Type", FHIR_XML)], Some(xml)).await;
        assert!(matches!(r.status.as_u16(), 400 | 422), "{}", r.text());
        let entry = json!({"fullUrl": "urn:uuid:11111111-1111-1111-1111-111111111111",
            "resource": wish("x", "p1"), "request": {"method": "POST", "url": "Observation"}});
        let twice = json!({"resourceType": "Bundle", "type": "transaction", "entry": [entry.clone(), entry]});
        let r = app.post_json("", &twice).await;
        assert!(matches!(r.status.as_u16(), 400 | 422), "{}", r.text());
        assert_eq!(app.stored_versions().await, before);
    }

    async fn client_headers_decide_neither_the_audit_address_nor_the_links(app) {
        world(&app).await;
        let forged = [
            ("X-Forwarded-For", "203.0.113.66"),
            ("Forwarded", "for=203.0.113.66;host=evil.example;proto=https"),
            ("X-Forwarded-Host", "evil.example"),
            ("Host", "evil.example"),
        ];
        let r = app.get_with("Observation?subject=Patient/p1&_count=1", &forged).await.expect(200);
        let text = r.text();
        assert!(!text.contains("evil.example"), "{text}");
        assert!(text.contains(&format!("{}/Observation?", app.base)), "{text}");
        let trail = app.get("AuditEvent?_count=1000").await.expect(200).text();
        assert!(!trail.contains("203.0.113.66"), "forged address in the trail");
        assert!(trail.contains("127.0.0.1"), "{trail}");
    }

    async fn one_current_patient_per_bsn(app) {
        world(&app).await;
        let outsider = system_token(&app, OUTSIDER_URA);
        // A second Patient with p1's BSN, by an organisation that cannot see p1, and by us.
        let second = json!({"resourceType": "Patient", "identifier": [{"system": BSN, "value": P1_BSN}]});
        let r = send_as(&app, &outsider, Method::POST, "Patient", Some(FHIR_JSON), Some(second.to_string().into_bytes())).await;
        assert_eq!(r.status.as_u16(), 409, "{}", r.text());
        assert!(!r.text().contains("p1\"") && !r.text().contains("Vries"), "{}", r.text());
        app.post_json("Patient", &second).await.expect(409);
        app.put_json("Patient/p3", &patient("p3", P1_BSN)).await.expect(409);
        // Not a BSN at all.
        let r = app.put_json("Patient/p4", &patient("p4", "999911121")).await;
        assert_eq!(r.status.as_u16(), 422, "{}", r.text());
        // Simultaneous registrations of one new BSN make one Patient.
        let fresh = json!({"resourceType": "Patient", "identifier": [{"system": BSN, "value": "123456782"}]});
        let tries = (0..12).map(|_| app.post_json("Patient", &fresh));
        let answers = futures_util::future::join_all(tries).await;
        let created = answers.iter().filter(|r| r.status.as_u16() == 201).count();
        assert_eq!(created, 1, "{:?}", answers.iter().map(|r| r.status.as_u16()).collect::<Vec<_>>());
        assert!(answers.iter().all(|r| matches!(r.status.as_u16(), 201 | 409)));
        // The BSN is free again once its Patient is deleted, and the ambulance's lookup works.
        app.delete("Patient/p2").await.expect(200);
        app.put_json("Patient/p5", &patient("p5", P2_BSN)).await.expect(201);
        app.get(&format!("Patient/$pzp-summary?identifier={BSN}|{P1_BSN}")).await.expect(200);
    }

    async fn tokens_valid_for_too_long_are_refused(app) {
        let now = chrono::Utc::now().timestamp();
        let century = |role: &str| app.token_for(Claims {
            pzp_role: Some(role.into()),
            ura: Some(OWN_URA.into()),
            uzi: Some("900001".into()),
            scope: Some("user/*.rs".into()),
            iat: Some(now),
            exp: Some(now + 100 * 365 * 24 * 3600),
            ..Claims::default()
        });
        for role in ["system", "huisarts"] {
            let auth = format!("Bearer {}", century(role));
            let r = app.get_with("metadata", &[]).await;
            assert_eq!(r.status.as_u16(), 200);
            let r = app.get_with("Patient?_count=1", &[("Authorization", &auth)]).await;
            assert_eq!(r.status.as_u16(), 401, "{role}: {}", r.text());
        }
        let day = app.token_for(Claims {
            pzp_role: Some("system".into()),
            ura: Some(OWN_URA.into()),
            scope: Some("system/*.rs".into()),
            iat: Some(now),
            exp: Some(now + 20 * 3600),
            ..Claims::default()
        });
        let auth = format!("Bearer {day}");
        app.get_with("Patient?_count=1", &[("Authorization", &auth)]).await.expect(200);
    }
}
