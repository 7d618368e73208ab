//! Who may see what: authentication, the access policy on every path that returns data, and
//! the audit trail. One small world of four patients is built by the organisation's own system
//! (URA [`OWN_URA`]), then each role asks for each patient's records by every route.
//!
//! | patient | care team                        | sharing consent |
//! |---------|----------------------------------|-----------------|
//! | p1      | huisarts, sociaal werker, system | permit          |
//! | p2      | huisarts, system                 | none recorded   |
//! | p3      | system only                      | permit          |
//! | p4      | huisarts, system                 | deny (objection)|

mod common;

use actix_web::http::Method;
use common::*;
use pzp_fhir::auth::policy::ConsentMode;
use pzp_fhir::auth::token::Claims;
use serde_json::{json, Value};

const SCT: &str = "http://snomed.info/sct";
const UZI: &str = "http://fhir.nl/fhir/NamingSystem/uzi-nr-pers";
const URA: &str = "http://fhir.nl/fhir/NamingSystem/ura";
const BSN: &str = "http://fhir.nl/fhir/NamingSystem/bsn";
const ROLE: &str = "https://pzp-fhir.nl/fhir/CodeSystem/care-team-role";
const PATIENTS: [&str; 4] = ["p1", "p2", "p3", "p4"];
const GP_UZI: &str = "900001";
const GP_URA: &str = "11111111";

/// A BSN for patient `p`: eight digits from its number, and the ninth that passes the
/// eleven-test.
fn bsn(p: &str) -> String {
    let n: u64 = p[1..].parse().unwrap_or(0);
    (0..)
        .map(|k| format!("{:08}", 10_000_000 + n * 1_000 + k))
        .find_map(|first| {
            let sum: u64 = first
                .bytes()
                .zip((2..=9).rev())
                .map(|(d, w)| (d - b'0') as u64 * w)
                .sum();
            let check = sum % 11;
            (check < 10).then(|| format!("{first}{check}"))
        })
        .unwrap()
}

fn records(p: &str) -> Vec<Value> {
    let patient = json!({"reference": format!("Patient/{p}")});
    vec![
        json!({"resourceType": "Patient", "id": p, "name": [{"family": format!("Patiënt {p}")}],
               "identifier": [{"system": BSN, "value": bsn(p)}]}),
        json!({"resourceType": "Consent", "id": format!("td-{p}"), "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}]},
            "category": [{"coding": [{"system": SCT, "code": "129125009"}]}],
            "patient": patient,
            "provision": {"type": "deny", "code": [{"coding": [{"system": SCT, "code": "89666000"}]}]}}),
        json!({"resourceType": "Observation", "id": format!("wish-{p}"), "status": "final",
            "code": {"coding": [{"system": SCT, "code": "153851000146100"}]},
            "method": {"coding": [{"system": SCT, "code": "370819000"}]},
            "subject": patient, "valueString": "thuis blijven"}),
        json!({"resourceType": "Condition", "id": format!("cond-{p}"),
            "code": {"text": "longkanker"}, "subject": patient}),
        json!({"resourceType": "RelatedPerson", "id": format!("rp-{p}"), "patient": patient,
            "name": [{"family": "Jansen"}]}),
    ]
}

fn privacy(p: &str, decision: &str) -> Value {
    json!({"resourceType": "Consent", "id": format!("privacy-{p}"), "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": format!("Patient/{p}")},
        "provision": {"type": decision}})
}

fn member(role: &str, member: Value) -> Value {
    json!({"role": [{"coding": [{"system": ROLE, "code": role}]}], "member": member,
           "period": {"start": "2025-01-01"}})
}

fn team(p: &str, gp: bool, social: bool) -> Value {
    let mut participants = vec![member(
        "wijkverpleging",
        json!({"type": "Organization", "identifier": {"system": URA, "value": OWN_URA}}),
    )];
    if gp {
        participants.push(member(
            "hoofdbehandelaar",
            json!({"reference": "PractitionerRole/gp-role"}),
        ));
    }
    if social {
        participants.push(member(
            "sociaal-werker",
            json!({"reference": "PractitionerRole/sw-role"}),
        ));
    }
    json!({"resourceType": "CareTeam", "id": format!("team-{p}"), "status": "active",
           "subject": {"reference": format!("Patient/{p}")}, "participant": participants})
}

/// The world of the table above, written by the organisation's own system.
async fn build(app: &TestApp) {
    app.put_all(vec![
        json!({"resourceType": "Organization", "id": "org-gp", "name": "Huisartsenpraktijk",
               "identifier": [{"system": URA, "value": GP_URA}]}),
        json!({"resourceType": "Organization", "id": "org-social", "name": "Welzijn",
               "identifier": [{"system": URA, "value": "44444444"}]}),
        json!({"resourceType": "Practitioner", "id": "dr", "identifier": [{"system": UZI, "value": GP_UZI}]}),
        json!({"resourceType": "Practitioner", "id": "sw", "identifier": [{"system": UZI, "value": "900003"}]}),
        json!({"resourceType": "PractitionerRole", "id": "gp-role",
               "practitioner": {"reference": "Practitioner/dr"}, "organization": {"reference": "Organization/org-gp"}}),
        json!({"resourceType": "PractitionerRole", "id": "sw-role",
               "practitioner": {"reference": "Practitioner/sw"}, "organization": {"reference": "Organization/org-social"}}),
    ])
    .await;
    for p in PATIENTS {
        app.put_all(records(p)).await;
    }
    app.put_all(vec![
        privacy("p1", "permit"),
        privacy("p3", "permit"),
        privacy("p4", "deny"),
    ])
    .await;
    app.put_all(vec![
        team("p1", true, true),
        team("p2", true, false),
        team("p3", false, false),
        team("p4", true, false),
    ])
    .await;
}

fn claims(role: &str, uzi: Option<&str>, ura: Option<&str>, scope: &str) -> Claims {
    Claims {
        pzp_role: Some(role.into()),
        uzi: uzi.map(str::to_string),
        ura: ura.map(str::to_string),
        scope: Some(scope.into()),
        ..Claims::default()
    }
}

struct Callers {
    gp: String,
    social: String,
    ambulance: String,
    emergency: String,
    emergency_without_reason: String,
    patient1: String,
}

fn callers(app: &TestApp) -> Callers {
    let ambulance = claims("ambulance", Some("900005"), Some("55555555"), "user/*.rs");
    Callers {
        gp: app.token_for(claims(
            "huisarts",
            Some(GP_UZI),
            Some(GP_URA),
            "user/*.cruds",
        )),
        social: app.token_for(claims(
            "sociaal-werker",
            Some("900003"),
            Some("44444444"),
            "user/*.cruds",
        )),
        emergency: app.token_for(Claims {
            purpose_of_use: Some("ETREAT".into()),
            reason: Some("reanimatie thuis, 03:12".into()),
            ..ambulance.clone()
        }),
        emergency_without_reason: app.token_for(Claims {
            purpose_of_use: Some("ETREAT".into()),
            ..ambulance.clone()
        }),
        ambulance: app.token_for(ambulance),
        patient1: app.token_for(Claims {
            bsn: Some(bsn("p1")),
            ..claims("patient", None, None, "patient/*.rs")
        }),
    }
}

async fn get(app: &TestApp, token: &str, path: &str) -> Resp {
    let auth = format!("Bearer {token}");
    app.get_with(path, &[("Authorization", &auth)]).await
}

/// The ids of the matches of a search, sorted.
async fn found(app: &TestApp, token: &str, path: &str) -> Vec<String> {
    let b = get(app, token, path).await.expect(200).json();
    let mut ids: Vec<String> = b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| path_of(&e["resource"]))
        .filter(|r| !r.starts_with("OperationOutcome"))
        .collect();
    ids.sort();
    ids
}

/// For each resource kind, which patients' records `token` reads (by id and by search).
async fn readable(app: &TestApp, token: &str) -> Vec<(String, Vec<&'static str>)> {
    let kinds = [
        ("Patient", ""),
        ("Consent", "td-"),
        ("Observation", "wish-"),
        ("Condition", "cond-"),
        ("RelatedPerson", "rp-"),
    ];
    let mut out = Vec::new();
    for (t, prefix) in kinds {
        let mut by_read = Vec::new();
        for p in PATIENTS {
            let r = get(app, token, &format!("{t}/{prefix}{p}")).await;
            match r.status.as_u16() {
                200 => by_read.push(p),
                404 => {}
                s => panic!("{t}/{prefix}{p}: unexpected {s}: {}", r.text()),
            }
        }
        // The same answer by search, by every patient's BSN through a chain, and through
        // _revinclude from the patient.
        let searched: Vec<&str> = PATIENTS
            .into_iter()
            .filter(|p| by_read.contains(p))
            .collect();
        let all = found(app, token, &format!("{t}?_count=100")).await;
        let expected: Vec<String> = searched
            .iter()
            .map(|p| format!("{t}/{prefix}{p}"))
            .collect();
        let mut mine: Vec<String> = all
            .into_iter()
            .filter(|r| {
                expected.contains(r) || PATIENTS.iter().any(|p| *r == format!("{t}/{prefix}{p}"))
            })
            .collect();
        mine.sort();
        assert_eq!(mine, expected, "search {t} differs from read");
        if t != "Patient" {
            let param = if t == "Consent" || t == "RelatedPerson" {
                "patient"
            } else {
                "subject"
            };
            for p in PATIENTS {
                let chained = found(
                    app,
                    token,
                    &format!("{t}?{param}.identifier={BSN}|{}", bsn(p)),
                )
                .await;
                let want: Vec<String> = if by_read.contains(&p) {
                    vec![format!("{t}/{prefix}{p}")]
                } else {
                    Vec::new()
                };
                let chained: Vec<String> = chained
                    .into_iter()
                    .filter(|r| r.starts_with(&format!("{t}/{prefix}")))
                    .collect();
                assert_eq!(chained, want, "{t} chained to {p}'s BSN");
            }
        }
        out.push((t.to_string(), by_read));
    }
    out
}

fn table(rows: &[(&str, &[&'static str])]) -> Vec<(String, Vec<&'static str>)> {
    rows.iter()
        .map(|(t, ps)| (t.to_string(), ps.to_vec()))
        .collect()
}

backend_tests! {
    async fn every_role_sees_exactly_its_part_by_every_route(app) {
        build(&app).await;
        let c = callers(&app);
        let all: &[&str] = &["p1", "p2", "p3", "p4"];
        // The organisation's own system reads everything it recorded.
        assert_eq!(readable(&app, &app.token).await, table(&[
            ("Patient", all), ("Consent", all), ("Observation", all), ("Condition", all), ("RelatedPerson", all)]));
        // The huisarts: only p1 (p2 has no consent, p3 no care relationship, p4 objects).
        let p1: &[&str] = &["p1"];
        assert_eq!(readable(&app, &c.gp).await, table(&[
            ("Patient", p1), ("Consent", p1), ("Observation", p1), ("Condition", p1), ("RelatedPerson", p1)]));
        // The sociaal werker in p1's team: wishes, contacts and the patient, no medical details.
        assert_eq!(readable(&app, &c.social).await, table(&[
            ("Patient", p1), ("Consent", &[]), ("Observation", p1), ("Condition", &[]), ("RelatedPerson", p1)]));
        // The ambulance without emergency purpose: nothing.
        assert_eq!(readable(&app, &c.ambulance).await, table(&[
            ("Patient", &[]), ("Consent", &[]), ("Observation", &[]), ("Condition", &[]), ("RelatedPerson", &[])]));
        // In an emergency: the plan of every patient who did not object, no diagnoses.
        let no_objection: &[&str] = &["p1", "p2", "p3"];
        assert_eq!(readable(&app, &c.emergency).await, table(&[
            ("Patient", no_objection), ("Consent", no_objection), ("Observation", no_objection),
            ("Condition", &[]), ("RelatedPerson", no_objection)]));
        // The patient: their own record only.
        assert_eq!(readable(&app, &c.patient1).await, table(&[
            ("Patient", p1), ("Consent", p1), ("Observation", p1), ("Condition", p1), ("RelatedPerson", p1)]));
    }

    async fn nothing_leaks_through_includes_reverse_chains_history_or_bundles(app) {
        build(&app).await;
        let c = callers(&app);
        // _revinclude and _include only bring what the caller may see.
        assert_eq!(found(&app, &c.gp, "Patient?_revinclude=Observation:subject").await,
                   ["Observation/wish-p1", "Patient/p1"]);
        assert_eq!(found(&app, &c.gp, "Observation?_include=Observation:subject").await,
                   ["Observation/wish-p1", "Patient/p1"]);
        assert_eq!(found(&app, &c.social, "Patient?_revinclude=Condition:subject&_revinclude=Observation:subject").await,
                   ["Observation/wish-p1", "Patient/p1"]);
        // _has does not tell which hidden patients have a matching record.
        assert_eq!(found(&app, &c.gp, &format!("Patient?_has:Observation:subject:code={SCT}|153851000146100")).await,
                   ["Patient/p1"]);
        assert_eq!(found(&app, &c.social, "Patient?_has:Condition:subject:code:text=longkanker").await,
                   Vec::<String>::new());
        // Totals count only what is visible.
        let b = get(&app, &c.gp, "Observation?_summary=count").await.expect(200).json();
        assert_eq!(b["total"], 1);
        // History: a hidden resource is not found; type history is the caller's own feed.
        get(&app, &c.gp, "Observation/wish-p2/_history").await.expect(404);
        get(&app, &c.gp, "Observation/wish-p2/_history/1").await.expect(404);
        get(&app, &c.gp, "Observation/wish-p1/_history/1").await.expect(200);
        let h = get(&app, &c.gp, "Observation/_history").await.expect(200).json();
        assert_eq!(h["total"], 0);
        get(&app, &c.patient1, "_history").await.expect(403);
        // Batch and transaction entries answer as the requests on their own would.
        let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Observation/wish-p1"}},
            {"request": {"method": "GET", "url": "Observation/wish-p2"}},
            {"request": {"method": "GET", "url": "Condition?subject=Patient/p4"}}]});
        let auth = format!("Bearer {}", c.gp);
        let b = app.send(Method::POST, "", &[("Content-Type", FHIR_JSON), ("Authorization", &auth)],
                         Some(bundle.to_string().into_bytes())).await.expect(200).json();
        assert_eq!(b["entry"][0]["response"]["status"], "200 OK");
        assert_eq!(b["entry"][1]["response"]["status"], "404 Not Found");
        assert_eq!(b["entry"][2]["resource"]["total"], 0);
        // A conditional create does not find (and so does not reveal) a hidden match.
        let obs = json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": SCT, "code": "153851000146100"}]},
            "method": {"coding": [{"system": SCT, "code": "370819000"}]},
            "subject": {"reference": "Patient/p1"}, "valueString": "muziek"});
        let r = app.send(Method::POST, "Observation",
            &[("Content-Type", FHIR_JSON), ("Authorization", &auth), ("If-None-Exist", "_id=wish-p2")],
            Some(obs.to_string().into_bytes())).await;
        assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    }

    async fn writes_need_a_care_relationship_and_the_right_role(app) {
        build(&app).await;
        let c = callers(&app);
        let wish = |p: &str| json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": SCT, "code": "153851000146100"}]},
            "method": {"coding": [{"system": SCT, "code": "370819000"}]},
            "subject": {"reference": format!("Patient/{p}")}, "valueString": "muziek"});
        let post = |token: &str, body: Value| {
            let auth = format!("Bearer {token}");
            let app = &app;
            async move {
                app.send(Method::POST, "Observation", &[("Content-Type", FHIR_JSON), ("Authorization", &auth)],
                         Some(body.to_string().into_bytes())).await
            }
        };
        let before = app.stored_versions().await;
        post(&c.gp, wish("p1")).await.expect(201);
        // The huisarts is in p2's and p4's team (writing needs no sharing consent), not in p3's.
        post(&c.gp, wish("p2")).await.expect(201);
        let (code, text, _) = post(&c.gp, wish("p3")).await.expect(403).issue();
        assert_eq!(code, "forbidden");
        assert!(text.contains("no care relationship with Patient/p3"), "{text}");
        // Roles that only read, and emergency access, never write.
        post(&c.social, wish("p1")).await.expect(403);
        post(&c.patient1, wish("p1")).await.expect(403);
        post(&c.emergency, wish("p1")).await.expect(403);
        // Only a system registers new patients.
        let auth = format!("Bearer {}", c.gp);
        let patient = json!({"resourceType": "Patient", "name": [{"family": "Nieuw"}]});
        app.send(Method::POST, "Patient", &[("Content-Type", FHIR_JSON), ("Authorization", &auth)],
                 Some(patient.to_string().into_bytes())).await.expect(403);
        // What one cannot see cannot be changed: a PUT finds its id taken, a DELETE finds
        // nothing to delete (as for an id that never existed); the huisarts's own entry they
        // may amend.
        let mut hidden = records("p3")[2].clone();
        hidden["valueString"] = json!("overschreven");
        app.put_json_with("Observation/wish-p3", &hidden, &[("Authorization", &auth)]).await.expect(409);
        app.send(Method::DELETE, "Condition/cond-p3", &[("Authorization", &auth)], None).await.expect(200);
        assert_eq!(app.get("Observation/wish-p3").await.json()["valueString"], "thuis blijven");
        assert_eq!(app.stored_versions().await, before);
        // What the huisarts wrote is in the practice's own feed: the two wishes, and who wrote
        // them.
        let h = get(&app, &c.gp, "Observation/_history").await.expect(200).json();
        assert_eq!(h["total"], 2, "{h}");
        let mine = get(&app, &c.gp, "Observation?subject=Patient/p1&code=153851000146100&_revinclude=Provenance:target").await.expect(200).json();
        let provenance: Vec<&Value> = mine["entry"].as_array().unwrap().iter()
            .map(|e| &e["resource"]).filter(|r| r["resourceType"] == "Provenance").collect();
        // The wish the system recorded, and the huisarts's.
        assert_eq!(provenance.len(), 2, "{mine}");
        let by_gp = provenance.iter().find(|p| p["agent"][0]["who"]["identifier"]["value"] == GP_UZI).unwrap();
        assert_eq!(by_gp["agent"][0]["onBehalfOf"]["identifier"]["value"], GP_URA);
        assert_eq!(by_gp["agent"][0]["role"][0]["text"], "huisarts");
        assert_eq!(by_gp["activity"]["coding"][0]["code"], "CREATE");
        // Who changed p1's wish is seen by those who see the wish, not by others.
        let target = by_gp["target"][0]["reference"].as_str().unwrap().split("/_history").next().unwrap().to_string();
        assert_eq!(found(&app, &c.patient1, &format!("Provenance?target={target}")).await.len(), 1);
        assert_eq!(found(&app, &c.ambulance, &format!("Provenance?target={target}")).await.len(), 0);
        // Scopes narrow what a role may do.
        let read_only = app.token_for(claims("huisarts", Some(GP_UZI), Some(GP_URA), "user/*.rs"));
        let (_, text, _) = post(&read_only, wish("p1")).await.expect(403).issue();
        assert!(text.contains("scopes"), "{text}");
    }

    async fn emergency_access_needs_a_reason_and_is_flagged(app) {
        build(&app).await;
        let c = callers(&app);
        let (_, text, _) = get(&app, &c.emergency_without_reason, "Consent/td-p2").await.expect(403).issue();
        assert!(text.contains("needs a reason"), "{text}");
        get(&app, &c.emergency, "Consent/td-p2").await.expect(200);
        get(&app, &c.emergency, "Consent/td-p4").await.expect(404);
        // Patient p2 reads who looked: the emergency access with its reason.
        let p2 = app.token_for(Claims { bsn: Some(bsn("p2")), ..claims("patient", None, None, "patient/*.rs") });
        let events = get(&app, &p2, "AuditEvent?patient=Patient/p2").await.expect(200).json();
        let emergency: Vec<&Value> = events["entry"].as_array().unwrap().iter()
            .map(|e| &e["resource"])
            .filter(|e| e["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT")
            .collect();
        assert_eq!(emergency.len(), 1, "{events}");
        assert_eq!(emergency[0]["purposeOfEvent"][0]["text"], "reanimatie thuis, 03:12");
        assert_eq!(emergency[0]["agent"][0]["who"]["identifier"]["value"], "900005");
        assert_eq!(emergency[0]["agent"][0]["role"][0]["text"], "ambulance");
        assert_eq!(emergency[0]["agent"][1]["who"]["identifier"]["value"], "55555555");
        assert_eq!(emergency[0]["outcome"], "0");
        // The refused attempt without a reason is in the trail too, as a failure.
        let system = app.token_for(claims("system", None, Some("55555555"), "system/*.cruds"));
        let b = get(&app, &system, "AuditEvent?outcome=4").await.expect(200).json();
        assert!(b["entry"].as_array().unwrap().iter().any(|e|
            e["resource"]["outcomeDesc"].as_str().unwrap().contains("needs a reason")), "{b}");
    }

    async fn every_access_is_audited_and_the_trail_is_append_only(app) {
        build(&app).await;
        let c = callers(&app);
        let auth = format!("Bearer {}", c.gp);
        // Five requests by the huisarts: two reads, a search, a refused write, a hidden read.
        get(&app, &c.gp, "Patient/p1").await.expect(200);
        get(&app, &c.gp, "Consent/td-p1").await.expect(200);
        get(&app, &c.gp, "Observation?subject=Patient/p1").await.expect(200);
        let cond = json!({"resourceType": "Condition", "code": {"text": "x"}, "subject": {"reference": "Patient/p3"}});
        app.send(Method::POST, "Condition", &[("Content-Type", FHIR_JSON), ("Authorization", &auth)],
                 Some(cond.to_string().into_bytes())).await.expect(403);
        get(&app, &c.gp, "Condition/cond-p2").await.expect(404);
        // The practice's own system reads its users' trail.
        let practice = app.token_for(claims("system", None, Some(GP_URA), "system/*.rs"));
        let b = get(&app, &practice, &format!("AuditEvent?agent:identifier={UZI}|{GP_UZI}&_count=100")).await.expect(200).json();
        let events: Vec<&Value> = b["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).collect();
        assert_eq!(events.len(), 5, "{b}");
        let kinds: Vec<(String, String, String)> = events.iter().map(|e| (
            e["subtype"][0]["code"].as_str().unwrap().to_string(),
            e["action"].as_str().unwrap().to_string(),
            e["outcome"].as_str().unwrap().to_string(),
        )).collect();
        for want in [("read", "R", "0"), ("search-type", "E", "0"), ("create", "C", "4"), ("read", "R", "4")] {
            assert!(kinds.iter().any(|k| (k.0.as_str(), k.1.as_str(), k.2.as_str()) == want), "{want:?} in {kinds:?}");
        }
        for e in &events {
            assert_eq!(e["agent"][0]["who"]["identifier"]["system"], UZI);
            assert_eq!(e["agent"][1]["who"]["identifier"]["value"], GP_URA);
            assert!(e["recorded"].as_str().is_some());
            assert!(e["agent"][0]["network"]["address"].as_str().is_some(), "{e}");
        }
        // The trail is searched by entity and date too.
        let by_entity = found(&app, &practice, "AuditEvent?entity=Consent/td-p1").await;
        assert_eq!(by_entity.len(), 1, "{by_entity:?}");
        let today = &events[0]["recorded"].as_str().unwrap()[..10];
        let agent = format!("agent:identifier={UZI}|{GP_UZI}");
        assert_eq!(found(&app, &practice, &format!("AuditEvent?{agent}&date=ge{today}&_count=100")).await.len(), 5);
        assert_eq!(found(&app, &practice, &format!("AuditEvent?{agent}&date=lt{today}")).await.len(), 0);
        assert_eq!(found(&app, &practice, "AuditEvent?date=lt2020-01-01").await.len(), 0);
        assert_eq!(found(&app, &practice, &format!("AuditEvent?{agent}&subtype=read&outcome=4")).await.len(), 1);
        // Parameters that hold the same value on every event are not indexed, and say so.
        let practice_auth = format!("Bearer {practice}");
        for p in ["site=pzp-fhir", "type=rest", "entity-type=2"] {
            let headers = [("Authorization", practice_auth.as_str()), ("Prefer", "handling=strict")];
            let (code, _, _) = app.get_with(&format!("AuditEvent?{p}"), &headers).await.expect(400).issue();
            assert_eq!(code, "not-supported", "{p}");
        }
        // The search names the patients that appeared in its answer, and its query.
        let search = events.iter().find(|e| e["subtype"][0]["code"] == "search-type").unwrap();
        let entities = search["entity"].as_array().unwrap();
        assert!(entities.iter().any(|x| x["what"]["reference"] == "Patient/p1"));
        assert!(entities.iter().any(|x| x["description"] == "Observation?subject=Patient%2Fp1"
            || x["description"] == "Observation?subject=Patient/p1"), "{search}");
        // Nobody changes the trail, by any route.
        let id = events[0]["id"].as_str().unwrap().to_string();
        let mut changed = (*events[0]).clone();
        changed["outcome"] = json!("8");
        for token in [&app.token, &practice] {
            let auth = format!("Bearer {token}");
            let h = [("Content-Type", FHIR_JSON), ("Authorization", auth.as_str())];
            app.send(Method::PUT, &format!("AuditEvent/{id}"), &h, Some(changed.to_string().into_bytes())).await.expect(405);
            app.send(Method::POST, "AuditEvent", &h, Some(changed.to_string().into_bytes())).await.expect(405);
            app.send(Method::DELETE, &format!("AuditEvent/{id}"), &[("Authorization", &auth)], None).await.expect(405);
            app.send(Method::PATCH, &format!("AuditEvent/{id}"),
                     &[("Content-Type", "application/json-patch+json"), ("Authorization", &auth)],
                     Some(br#"[{"op": "replace", "path": "/outcome", "value": "8"}]"#.to_vec())).await.expect(405);
            app.send(Method::DELETE, "AuditEvent?outcome=0", &[("Authorization", &auth)], None).await.expect(405);
            let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
                {"resource": changed, "request": {"method": "PUT", "url": format!("AuditEvent/{id}")}}]});
            app.send(Method::POST, "", &h, Some(tx.to_string().into_bytes())).await.expect(405);
        }
        let again = get(&app, &practice, &format!("AuditEvent/{id}")).await.expect(200).json();
        assert_eq!(again["outcome"], events[0]["outcome"]);
        assert_eq!(again["meta"]["versionId"], "1");
        // A patient reads who looked at their record, and nothing about anyone else.
        let trail = get(&app, &c.patient1, "AuditEvent?patient=Patient/p1&_count=200").await.expect(200).json();
        assert!(trail["entry"].as_array().unwrap().iter().any(|e|
            e["resource"]["agent"][0]["who"]["identifier"]["value"] == GP_UZI));
        let other = get(&app, &c.patient1, "AuditEvent?patient=Patient/p2").await.expect(200).json();
        assert_eq!(other["total"], 0);
        // Professionals do not browse the trail.
        get(&app, &c.gp, "AuditEvent?patient=Patient/p1").await.expect(403);
    }

    async fn concurrent_reads_each_leave_their_own_trace(app) {
        // Reads that arrive together share a commit of the trail; none of their events is lost.
        build(&app).await;
        let c = callers(&app);
        let reads = (0..40).map(|i| {
            let path = if i % 2 == 0 { "Patient/p1" } else { "Consent?patient=Patient/p1" };
            get(&app, &c.gp, path)
        });
        for r in futures_util::future::join_all(reads).await {
            r.expect(200);
        }
        let practice = app.token_for(claims("system", None, Some(GP_URA), "system/*.rs"));
        let agent = format!("agent:identifier={UZI}|{GP_UZI}");
        let events = found(&app, &practice, &format!("AuditEvent?{agent}&_count=100")).await;
        assert_eq!(events.len(), 40, "{events:?}");
        let reads = found(&app, &practice, &format!("AuditEvent?{agent}&subtype=read&entity=Patient/p1&_count=100")).await;
        assert_eq!(reads.len(), 20);
    }

    async fn requests_without_a_valid_token_are_refused(app) {
        for (path, public) in [("metadata", true), ("health", true), ("Patient", false), ("Patient/p1", false), ("_history", false)] {
            let r = app.get_with(path, &[("Authorization", "")]).await;
            if public {
                r.expect(200);
                continue;
            }
            let r = r.expect(401);
            assert!(r.header("www-authenticate").unwrap().starts_with("Bearer realm=\"pzp-fhir\""));
            assert_eq!(r.issue().0, "login");
        }
        let expired = app.token_for(Claims { exp: Some(1_000_000_000), ..claims("system", None, Some(OWN_URA), "system/*.cruds") });
        let tampered = {
            let mut parts: Vec<String> = app.token.split('.').map(str::to_string).collect();
            parts[1] = parts[1].replacen('e', "f", 1);
            parts.join(".")
        };
        let no_role = app.token_for(Claims { ura: Some(OWN_URA.into()), ..Claims::default() });
        for (token, why) in [(expired.as_str(), "expired"), (tampered.as_str(), ""), ("not-a-jwt", ""), (no_role.as_str(), "pzp_role")] {
            let auth = format!("Bearer {token}");
            let (code, text, _) = app.get_with("Patient", &[("Authorization", &auth)]).await.expect(401).issue();
            assert_eq!(code, "login");
            assert!(text.contains(why), "{text}");
        }
        app.get_with("Patient", &[("Authorization", "Basic dXNlcjpwdw==")]).await.expect(401);
    }
}

#[actix_rt::test]
async fn implied_consent_opens_the_record_to_the_care_team_but_an_objection_still_wins() {
    for db in [Db::Sqlite, Db::Postgres] {
        let options = Options {
            consent_mode: ConsentMode::Implied,
            ..Options::default()
        };
        let Some(app) = spawn_app_with(db, options).await else {
            eprintln!("skipped on {db:?}: PZP_TEST_DATABASE_URL is not set");
            continue;
        };
        build(&app).await;
        let c = callers(&app);
        let p12: &[&str] = &["p1", "p2"];
        assert_eq!(
            readable(&app, &c.gp).await,
            table(&[
                ("Patient", p12),
                ("Consent", p12),
                ("Observation", p12),
                ("Condition", p12),
                ("RelatedPerson", p12)
            ])
        );
    }
}
