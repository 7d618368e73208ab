//! The conformance package: published read-only, listed in the CapabilityStatement, and
//! enforced on every write (our own examples pass; each kind of violation is refused with its
//! location and stores nothing).

mod common;

use common::*;
use pzp_fhir::auth::token::Claims;
use serde_json::{json, Value};

const SCT: &str = "http://snomed.info/sct";
const MARKERING: &str = "https://pzp-fhir.nl/fhir/StructureDefinition/pzp-markering";
const CARETEAM: &str = "https://pzp-fhir.nl/fhir/StructureDefinition/pzp-careteam";
const TREATMENT: &str =
    "https://api.iknl.nl/docs/pzp/r4/StructureDefinition/ACP-TreatmentDirective";

/// Our own example instances, from the repository.
fn own_examples() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/pzp/examples");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut examples: Vec<Value> = files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect();
    // In the order a system loads a record: who is who, the patient, the care team, the rest.
    let rank = |r: &Value| match r["resourceType"].as_str().unwrap() {
        "Organization" | "Practitioner" | "PractitionerRole" => 0,
        "Patient" => 1,
        "RelatedPerson" | "Condition" => 2,
        "CareTeam" => 3,
        _ => 4,
    };
    examples.sort_by_key(rank);
    examples
}

/// The URA of the home care organisation of the examples, a member of their care team.
const THUISZORG_URA: &str = "87654321";

fn example(res_type: &str) -> Value {
    own_examples()
        .into_iter()
        .find(|r| r["resourceType"] == res_type)
        .unwrap()
}

fn treatment_directive() -> Value {
    json!({"resourceType": "Consent", "id": "td", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}]},
        "category": [{"coding": [{"system": SCT, "code": "129125009"}]}],
        "patient": {"reference": "Patient/example-patient"},
        "provision": {"type": "deny", "code": [{"coding": [{"system": SCT, "code": "89666000"}]}]}})
}

/// Expects 422 with an issue at `expression` whose text contains `text`, and nothing stored.
async fn refused(app: &TestApp, r: &Value, expression: &str, text: &str) {
    let before = app.stored_versions().await;
    let resp = app.put_json(&path_of(r), r).await.expect(422);
    let oo = resp.json();
    let issues = oo["issue"].as_array().unwrap();
    assert!(
        issues.iter().any(|i| i["expression"][0] == expression
            && i["diagnostics"].as_str().unwrap().contains(text)),
        "expected an issue at {expression} about '{text}': {oo}"
    );
    assert_eq!(app.stored_versions().await, before, "nothing is stored");
}

backend_tests! {
    async fn the_package_is_published_read_only_and_listed(app) {
        let b = app.get(&format!("StructureDefinition?url={MARKERING}")).await.expect(200).json();
        assert_eq!(b["total"], 1);
        let sd = &b["entry"][0]["resource"];
        assert_eq!(sd["type"], "EpisodeOfCare");
        let path = path_of(sd);
        app.put_json(&path, sd).await.expect(405);
        app.delete(&path).await.expect(405);
        let b = app.get("CodeSystem?url=https://pzp-fhir.nl/fhir/CodeSystem/care-team-role").await.expect(200).json();
        assert_eq!(b["total"], 1);
        assert!(app.get("ValueSet?_summary=count").await.expect(200).json()["total"].as_u64().unwrap() >= 8);

        let cs = app.get("metadata").await.expect(200).json();
        let resources = cs["rest"][0]["resource"].as_array().unwrap();
        let profiles = |t: &str| -> Vec<String> {
            resources.iter().find(|r| r["type"] == t).unwrap()["supportedProfile"]
                .as_array().map(|a| a.iter().map(|p| p.as_str().unwrap().to_string()).collect()).unwrap_or_default()
        };
        assert!(profiles("EpisodeOfCare").contains(&MARKERING.to_string()));
        assert!(profiles("Consent").contains(&TREATMENT.to_string()));
        assert!(profiles("Consent").iter().any(|p| p.ends_with("ACP-AdvanceDirective")));
    }

    async fn our_own_examples_are_accepted(app) {
        // The home care organisation's system records them: once the care team is there, it
        // keeps writing as a member.
        let token = app.token_for(Claims {
            pzp_role: Some("system".into()),
            ura: Some(THUISZORG_URA.into()),
            scope: Some("system/*.cruds".into()),
            ..Claims::default()
        });
        let auth = format!("Bearer {token}");
        for r in own_examples() {
            app.put_json_with(&path_of(&r), &r, &[("Authorization", &auth)]).await.expect(201);
        }
        app.put_json_with("Consent/td", &treatment_directive(), &[("Authorization", &auth)])
            .await
            .expect(201);
    }

    async fn each_kind_of_violation_is_refused_with_its_location(app) {
        app.register_patient("example-patient").await;
        // Wrong reference target.
        let mut td = treatment_directive();
        td["patient"] = json!({"reference": "Practitioner/x"});
        refused(&app, &td, "Consent.patient", "may only refer to Patient").await;
        // Missing required element, found by codes although no profile is claimed.
        let mut td = treatment_directive();
        td.as_object_mut().unwrap().remove("patient");
        refused(&app, &td, "Consent.patient", "at least 1").await;
        // A required slice missing once the profile is claimed (under the older IKNL base).
        let mut td = treatment_directive();
        td["category"] = json!([{"coding": [{"system": SCT, "code": "1"}]}]);
        td["meta"] = json!({"profile": ["https://fhir.iknl.nl/fhir/StructureDefinition/ACP-TreatmentDirective"]});
        refused(&app, &td, "Consent.category", "slice").await;

        // A value outside a required binding: a care team role that is not in our code system.
        let mut team = example("CareTeam");
        team["participant"][0]["role"][0]["coding"][0]["code"] = json!("chef");
        refused(&app, &team, "CareTeam.participant[0].role[0]", "care-team-role").await;
        // Not allowed: a care team bound to an encounter.
        let mut team = example("CareTeam");
        team["encounter"] = json!({"reference": "Encounter/e"});
        refused(&app, &team, "CareTeam.encounter", "not allowed").await;
        // Wrong code: a markering that is not palliative care, and an unknown phase.
        let mut m = example("EpisodeOfCare");
        m["type"] = json!([{"coding": [{"system": SCT, "code": "1"}]}]);
        refused(&app, &m, "EpisodeOfCare.type", "at least 1").await;
        let mut m = example("EpisodeOfCare");
        m["extension"][0]["valueCoding"]["code"] = json!("final");
        refused(&app, &m, "EpisodeOfCare.extension[0].valueCoding", "palliative-phase").await;
        // A choice element of a type the profile does not allow.
        let wish = json!({"resourceType": "Observation", "id": "w", "status": "final",
            "code": {"coding": [{"system": SCT, "code": "153851000146100"}]},
            "method": {"coding": [{"system": SCT, "code": "370819000"}]},
            "subject": {"reference": "Patient/example-patient"}, "valueBoolean": true});
        refused(&app, &wish, "Observation.valueBoolean", "use valueString").await;
        let mut wish = wish;
        wish.as_object_mut().unwrap().remove("valueBoolean");
        wish["valueString"] = json!("Thuis blijven zolang het kan");
        app.put_json("Observation/w", &wish).await.expect(201);
        // Every issue at once.
        let mut team = example("CareTeam");
        team.as_object_mut().unwrap().remove("subject");
        team["encounter"] = json!({"reference": "Encounter/e"});
        let oo = app.put_json(&path_of(&team), &team).await.expect(422).json();
        assert_eq!(oo["issue"].as_array().unwrap().len(), 2, "{oo}");
        assert!(oo["issue"][0]["diagnostics"].as_str().unwrap().contains(CARETEAM.rsplit('/').next().unwrap()));
    }

    async fn profiles_hold_in_patches_and_transactions(app) {
        app.register_patient("example-patient").await;
        app.put_json("Consent/td", &treatment_directive()).await.expect(201);
        let resp = app
            .send(actix_web::http::Method::PATCH, "Consent/td", &[("Content-Type", "application/json-patch+json")],
                Some(br#"[{"op":"remove","path":"/patient"}]"#.to_vec()))
            .await
            .expect(422);
        assert_eq!(resp.json()["issue"][0]["expression"][0], "Consent.patient");
        let mut bad = treatment_directive();
        bad["id"] = json!("td2");
        bad["patient"] = json!({"reference": "Organization/o"});
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient", "id": "tp"}, "request": {"method": "PUT", "url": "Patient/tp"}},
            {"resource": bad, "request": {"method": "PUT", "url": "Consent/td2"}}]});
        let oo = app.post_json("", &bundle).await.expect(422).json();
        assert_eq!(oo["issue"][0]["expression"][0], "Bundle.entry[1].resource.patient");
        app.get("Patient/tp").await.expect(404);
    }

    async fn validate_operation_reports_without_storing(app) {
        let ok = app.post_json("Consent/$validate", &treatment_directive()).await.expect(200).json();
        assert_eq!(ok["issue"][0]["severity"], "information", "{ok}");

        let mut bad = treatment_directive();
        bad["patient"] = json!({"reference": "Practitioner/x"});
        bad["provision"].as_object_mut().unwrap().remove("type");
        let oo = app.post_json("Consent/$validate", &bad).await.expect(200).json();
        let at: Vec<&str> = oo["issue"].as_array().unwrap().iter().map(|i| i["expression"][0].as_str().unwrap()).collect();
        assert_eq!(at, ["Consent.patient", "Consent.provision"], "all issues at once: {oo}");
        assert_eq!(app.stored_versions().await, 0);

        // Against a named profile the resource does not claim, as a query parameter or in
        // Parameters; and at instance level.
        let patient = json!({"resourceType": "Patient", "id": "p"});
        let ok = app.post_json("Patient/$validate", &patient).await.expect(200).json();
        assert_eq!(ok["issue"][0]["severity"], "information");
        let acp = "https://api.iknl.nl/docs/pzp/r4/StructureDefinition/ACP-Patient";
        let oo = app.post_json(&format!("Patient/$validate?profile={acp}"), &patient).await.expect(200).json();
        assert_eq!(oo["issue"][0]["expression"][0], "Patient.name", "{oo}");
        let params = json!({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": patient}, {"name": "profile", "valueUri": acp}]});
        let oo = app.post_json("Patient/p/$validate", &params).await.expect(200).json();
        assert_eq!(oo["issue"][0]["expression"][0], "Patient.name");
        app.post_json("Patient/other/$validate", &patient).await.expect(400);
        app.post_json("Patient/$validate?profile=https://example.org/unknown", &patient).await.expect(400);
        // A structural problem is reported the same way.
        let oo = app.post_json("Patient/$validate", &json!({"resourceType": "Patient", "birthDate": "gisteren"})).await.expect(200).json();
        assert_eq!(oo["issue"][0]["severity"], "error");
    }

    async fn a_treatment_directive_keeps_its_own_wording(app) {
        app.register_patient("example-patient").await;
        // Neither a decision nor the free-text agreement: refused.
        let mut td = treatment_directive();
        td["provision"].as_object_mut().unwrap().remove("type");
        refused(&app, &td, "Consent.provision", "neither a decision").await;
        // The free text instead of a decision is accepted and kept verbatim.
        let text = "Alleen opname als de pijn thuis niet te behandelen is";
        td["modifierExtension"] = json!([{"url": "http://nictiz.nl/fhir/StructureDefinition/ext-TreatmentDirective2.SpecificationOther", "valueString": text}]);
        app.put_json("Consent/td", &td).await.expect(201);
        assert_eq!(app.get("Consent/td").await.json()["modifierExtension"][0]["valueString"], text);
        // Both a decision and the free text: refused, the text is not reduced to permit/deny.
        td["provision"]["type"] = json!("permit");
        refused(&app, &td, "Consent.provision", "both").await;
    }

    async fn base_r4_rules_hold_for_every_resource(app) {
        let obs = json!({"resourceType": "Observation", "id": "o", "status": "finished", "code": {"text": "x"}});
        let oo = app.put_json("Observation/o", &obs).await.expect(422).json();
        assert_eq!(oo["issue"][0]["code"], "code-invalid", "{oo}");
        assert_eq!(oo["issue"][0]["expression"][0], "Observation.status");
        let oo = app.put_json("Observation/o", &json!({"resourceType": "Observation", "id": "o", "status": "final"})).await.expect(422).json();
        assert_eq!(oo["issue"][0]["code"], "required");
        assert_eq!(oo["issue"][0]["expression"][0], "Observation.code");
        let p = json!({"resourceType": "Patient", "id": "p", "gender": "x", "telecom": [{"system": "pigeon", "value": "1"}]});
        let oo = app.put_json("Patient/p", &p).await.expect(422).json();
        assert_eq!(oo["issue"].as_array().unwrap().len(), 2, "{oo}");
        assert_eq!(app.stored_versions().await, 0);
    }
}
