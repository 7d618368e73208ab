//! The centrale zorgverlener rule: one at a time per patient across all care teams, handover
//! by closing the previous period, the markering's careManager, and two changes at once.

mod common;

use common::*;
use serde_json::{json, Value};

const ROLE: &str = "https://pzp-fhir.nl/fhir/CodeSystem/care-team-role";

fn participant(role: &str, member: &str, start: &str, end: Option<&str>) -> Value {
    let mut period = json!({"start": start});
    if let Some(e) = end {
        period["end"] = json!(e);
    }
    json!({"role": [{"coding": [{"system": ROLE, "code": role}]}],
           "member": {"reference": member}, "period": period})
}

/// A care team of `patient`; the test organisation takes part in it as wijkverpleging, so
/// that it may keep writing the patient's record.
fn team(id: &str, patient: &str, mut participants: Vec<Value>) -> Value {
    participants.push(json!({
        "role": [{"coding": [{"system": ROLE, "code": "wijkverpleging"}]}],
        "member": {"type": "Organization",
                   "identifier": {"system": "http://fhir.nl/fhir/NamingSystem/ura", "value": OWN_URA}},
        "period": {"start": "2025-01-01"}}));
    json!({"resourceType": "CareTeam", "id": id, "status": "active",
           "subject": {"reference": format!("Patient/{patient}")}, "participant": participants})
}

fn markering(manager: &str) -> Value {
    json!({"resourceType": "EpisodeOfCare", "id": "m1", "status": "active",
        "extension": [{"url": "https://pzp-fhir.nl/fhir/StructureDefinition/palliative-phase",
                       "valueCoding": {"system": "https://pzp-fhir.nl/fhir/CodeSystem/palliative-phase", "code": "palliative"}}],
        "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "103735009"}]}],
        "patient": {"reference": "Patient/p1"}, "period": {"start": "2025-09-01"},
        "careManager": {"reference": manager}})
}

const GP: &str = "PractitionerRole/gp";
const NURSE: &str = "PractitionerRole/nurse";

/// Expects 409 naming the current centrale zorgverlener.
fn names_current(r: Resp, current: &str) {
    let oo = r.expect(409).json();
    let text = oo["issue"][0]["diagnostics"].as_str().unwrap();
    assert!(
        text.contains(&format!("the current one is {current}")),
        "{text}"
    );
    assert_eq!(oo["issue"][0]["code"], "business-rule");
}

backend_tests! {
    async fn one_centrale_zorgverlener_at_a_time(app) {
        app.register_patient("p1").await;
        app.put_json("CareTeam/t1", &team("t1", "p1", vec![
            participant("hoofdbehandelaar", GP, "2025-09-01", None),
            participant("centrale-zorgverlener", GP, "2025-09-01", None),
        ])).await.expect(201);

        // A second open one in the same team, or in another team of the same patient.
        let r = app.put_json("CareTeam/t1", &team("t1", "p1", vec![
            participant("centrale-zorgverlener", GP, "2025-09-01", None),
            participant("centrale-zorgverlener", NURSE, "2025-11-15", None),
        ])).await;
        names_current(r, GP);
        let r = app.put_json("CareTeam/t2", &team("t2", "p1", vec![
            participant("centrale-zorgverlener", NURSE, "2025-11-15", None),
        ])).await;
        names_current(r, "PractitionerRole/gp, since 2025-09-01, in CareTeam/t1");
        app.get("CareTeam/t2").await.expect(404);
        assert_eq!(app.get("CareTeam/t1").await.json()["meta"]["versionId"], "1");

        // Another patient's team is independent.
        app.register_patient("p2").await;
        app.put_json("CareTeam/t3", &team("t3", "p2", vec![
            participant("centrale-zorgverlener", NURSE, "2025-11-15", None),
        ])).await.expect(201);

        // Handover: the previous period ends in the same update that adds the new one.
        app.put_json("CareTeam/t1", &team("t1", "p1", vec![
            participant("hoofdbehandelaar", GP, "2025-09-01", None),
            participant("centrale-zorgverlener", GP, "2025-09-01", Some("2025-11-15")),
            participant("centrale-zorgverlener", NURSE, "2025-11-15", None),
        ])).await.expect(200);
        // Who is it now and who was it before, since when: the care team of the patient.
        let b = app.get("CareTeam?subject=Patient/p1").await.expect(200).json();
        let ps = b["entry"][0]["resource"]["participant"].as_array().unwrap().clone();
        let central: Vec<(&str, &str, Option<&str>)> = ps.iter()
            .filter(|p| p["role"][0]["coding"][0]["code"] == "centrale-zorgverlener")
            .map(|p| (p["member"]["reference"].as_str().unwrap(), p["period"]["start"].as_str().unwrap(), p["period"]["end"].as_str()))
            .collect();
        assert_eq!(central, [(GP, "2025-09-01", Some("2025-11-15")), (NURSE, "2025-11-15", None)]);
        // A patch that reopens the old period breaks the rule too.
        let r = app.send(actix_web::http::Method::PATCH, "CareTeam/t1",
            &[("Content-Type", "application/json-patch+json")],
            Some(br#"[{"op":"remove","path":"/participant/1/period/end"}]"#.to_vec())).await;
        assert_eq!(r.status.as_u16(), 409, "{}", r.text());
    }

    async fn the_markering_names_the_current_centrale_zorgverlener(app) {
        app.register_patient("p1").await;
        app.put_json("EpisodeOfCare/m1", &markering(NURSE)).await.expect(409);
        app.put_json("CareTeam/t1", &team("t1", "p1", vec![
            participant("centrale-zorgverlener", GP, "2025-09-01", Some("2025-11-15")),
            participant("centrale-zorgverlener", NURSE, "2025-11-15", None),
        ])).await.expect(201);
        let r = app.put_json("EpisodeOfCare/m1", &markering(GP)).await;
        names_current(r, NURSE);
        app.put_json("EpisodeOfCare/m1", &markering(NURSE)).await.expect(201);
        // Phase changes are versions: the history shows the phases in order.
        let mut terminal = markering(NURSE);
        terminal["extension"][0]["valueCoding"]["code"] = json!("terminal");
        app.put_json("EpisodeOfCare/m1", &terminal).await.expect(200);
        let h = app.get("EpisodeOfCare/m1/_history").await.expect(200).json();
        let phases: Vec<&str> = h["entry"].as_array().unwrap().iter()
            .map(|e| e["resource"]["extension"][0]["valueCoding"]["code"].as_str().unwrap()).collect();
        assert_eq!(phases, ["terminal", "palliative"]);
    }

    async fn two_simultaneous_changes_leave_one_centrale_zorgverlener(app) {
        for round in 0..5 {
            let patient = format!("p{round}");
            app.register_patient(&patient).await;
            let writes = [("a", GP), ("b", NURSE)].map(|(t, who)| {
                let app = &app;
                let id = format!("{t}{round}");
                let body = team(&id, &patient, vec![participant("centrale-zorgverlener", who, "2025-09-01", None)]);
                async move { app.put_json(&format!("CareTeam/{id}"), &body).await }
            });
            let answers = futures_util::future::join_all(writes).await;
            let mut statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
            statuses.sort_unstable();
            assert_eq!(statuses, [201, 409], "round {round}");
            let b = app.get(&format!("CareTeam?subject=Patient/{patient}")).await.expect(200).json();
            assert_eq!(b["total"], 1, "round {round}");
        }
    }
}
