//! `$pzp-summary`: the current plan in one call, for both IKNL example patients (loaded from
//! their transaction Bundles in `shared/conformance`) and for a plan written here, as JSON,
//! XML and the printable page, under the access policy.

mod common;

use actix_web::http::Method;
use common::*;
use pzp_fhir::auth::token::Claims;
use serde_json::{json, Value};

const SCT: &str = "http://snomed.info/sct";
const BSN: &str = "http://fhir.nl/fhir/NamingSystem/bsn";
const ROLE: &str = "https://pzp-fhir.nl/fhir/CodeSystem/care-team-role";

/// Loads both IKNL bundles; false (and a note) when the shared folder is absent.
async fn load_iknl(app: &TestApp) -> bool {
    let Some(files) = conformance_files(&["iknl/bundles"]) else {
        eprintln!("skipped: shared/conformance is not beside this checkout");
        return false;
    };
    for f in files {
        let bundle: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        app.post_json("", &bundle).await.expect(200);
    }
    true
}

/// The Composition's section with this title: its narrative as text and its entry references.
fn section(document: &Value, title: &str) -> (String, Vec<String>) {
    assert_eq!(document["type"], "document");
    let composition = &document["entry"][0]["resource"];
    assert_eq!(composition["resourceType"], "Composition");
    let s = composition["section"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == title)
        .unwrap_or_else(|| panic!("no section {title}"));
    let refs = s["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["reference"].as_str().unwrap().to_string())
        .collect();
    (s["text"]["div"].as_str().unwrap().to_string(), refs)
}

fn entries(document: &Value) -> Vec<String> {
    document["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| path_of(&e["resource"]))
        .collect()
}

fn directive(id: &str, code: &str, date: &str, kind: &str) -> Value {
    json!({"resourceType": "Consent", "id": id, "status": "active", "dateTime": date,
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}]},
        "category": [{"coding": [{"system": SCT, "code": "129125009"}]}],
        "patient": {"reference": "Patient/anna"},
        "provision": {"type": kind, "code": [{"coding": [{"system": SCT, "code": code}]}]}})
}

/// A plan written here: two disagreeing resuscitation directives, a care team with a
/// centrale zorgverlener, a markering and an MDO conclusion.
async fn anna(app: &TestApp) {
    app.put_all(vec![
        json!({"resourceType": "Organization", "id": "thuiszorg", "name": "Thuiszorg Oost",
               "telecom": [{"system": "phone", "value": "030-1112233"}]}),
        json!({"resourceType": "Practitioner", "id": "nurse", "name": [{"family": "de Boer", "given": ["Sanne"]}]}),
        json!({"resourceType": "PractitionerRole", "id": "nurse-role", "practitioner": {"reference": "Practitioner/nurse"},
               "organization": {"reference": "Organization/thuiszorg"},
               "telecom": [{"system": "phone", "value": "06-12345678"}]}),
        json!({"resourceType": "Patient", "id": "anna", "name": [{"family": "Visser", "given": ["Anna"]}],
               "identifier": [{"system": BSN, "value": "123456782"}], "birthDate": "1938-02-03"}),
        directive("cpr-1", "89666000", "2025-03-01", "deny"),
        directive("cpr-2", "89666000", "2025-09-01", "permit"),
        directive("icu", "305351004", "2025-09-01", "deny"),
        json!({"resourceType": "EpisodeOfCare", "id": "markering", "status": "active",
            "extension": [{"url": "https://pzp-fhir.nl/fhir/StructureDefinition/palliative-phase",
                           "valueCoding": {"system": "https://pzp-fhir.nl/fhir/CodeSystem/palliative-phase", "code": "terminal", "display": "terminale fase"}}],
            "type": [{"coding": [{"system": SCT, "code": "103735009"}]}],
            "patient": {"reference": "Patient/anna"}, "period": {"start": "2025-10-01"}}),
        json!({"resourceType": "Encounter", "id": "mdo", "status": "finished", "class": {"code": "AMB"},
            "type": [{"coding": [{"system": SCT, "code": "384682003"}]}],
            "subject": {"reference": "Patient/anna"}, "period": {"start": "2025-11-01"}}),
        json!({"resourceType": "CarePlan", "id": "mdo-conclusion", "status": "active", "intent": "plan",
            "description": "Geen ziekenhuisopname meer; symptoombestrijding thuis.",
            "subject": {"reference": "Patient/anna"}, "encounter": {"reference": "Encounter/mdo"}}),
        json!({"resourceType": "CareTeam", "id": "team", "status": "active", "subject": {"reference": "Patient/anna"},
            "participant": [
                {"role": [{"coding": [{"system": ROLE, "code": "centrale-zorgverlener"}]}],
                 "member": {"reference": "PractitionerRole/nurse-role"}, "period": {"start": "2025-10-01"}},
                {"role": [{"coding": [{"system": ROLE, "code": "wijkverpleging"}]}],
                 "member": {"type": "Organization", "identifier": {"system": "http://fhir.nl/fhir/NamingSystem/ura", "value": OWN_URA}},
                 "period": {"start": "2025-01-01"}}]}),
    ])
    .await;
}

backend_tests! {
    async fn the_iknl_patients_current_plans(app) {
        if !load_iknl(&app).await { return; }
        // Samira van der Sluijs, by BSN: the superseded 'Onbekend' ventilation directive is
        // not current; the 'Anders' text of hospital admission shows verbatim.
        let doc = app.get(&format!("Patient/$pzp-summary?identifier={BSN}|999998298")).await.expect(200).json();
        let (limits, refs) = section(&doc, "Behandelgrenzen");
        assert!(limits.contains("Beademing: NIET"), "{limits}");
        assert!(!limits.contains("Onbekend"), "{limits}");
        assert!(limits.contains("Reanimeren: NIET") && limits.contains("Opname IC: NIET"), "{limits}");
        assert!(limits.contains("Ziekenhuisopname: anders: Alleen als de patiënt een kans heeft om weer uit het ziekenhuis te komen, anders hoeft het niet meer van mevrouw."), "{limits}");
        assert!(limits.contains("Dialyse in het ziekenhuis: NIET"), "{limits}");
        assert!(limits.contains("anders: Nee, nog geen besluit genomen"), "{limits}");
        assert!(!refs.contains(&"Consent/ACP-TreatmentDirective-ArtificialRespiration-1-Pat2".to_string()));
        assert!(refs.contains(&"Consent/ACP-TreatmentDirective-ArtificialRespiration-2-Pat2".to_string()));
        assert!(limits.contains("vastgelegd door"), "every line says who recorded it: {limits}");
        let (wishes, _) = section(&doc, "Wensen");
        assert!(wishes.contains("Voorkeursplek van overlijden") && wishes.contains("Standpunt euthanasie"), "{wishes}");
        let (contacts, _) = section(&doc, "Contactpersonen");
        assert!(contacts.contains("tel."), "{contacts}");
        let (icd, _) = section(&doc, "ICD");
        assert!(icd.contains("aanwezig"), "{icd}");
        let (advance, _) = section(&doc, "Wilsverklaringen");
        assert!(advance.contains("document aanwezig"), "{advance}");
        // Every resource the sections name is in the Bundle.
        let held = entries(&doc);
        for s in doc["entry"][0]["resource"]["section"].as_array().unwrap() {
            for e in s["entry"].as_array().into_iter().flatten() {
                assert!(held.contains(&e["reference"].as_str().unwrap().to_string()), "{e}");
            }
        }
        // Hendrik Hartman, by id: two ICU agreements that say the same; the newest is current.
        let doc = app.get("Patient/ACP-Patient-HendrikHartman-Pat1/$pzp-summary").await.expect(200).json();
        let (limits, refs) = section(&doc, "Behandelgrenzen");
        assert!(limits.contains("Opname IC: JA") && limits.contains("eerdere afspraak: Opname IC: JA"), "{limits}");
        assert!(limits.contains("Reanimeren: JA"), "{limits}");
        assert!(limits.contains("anders: Niet besproken"), "{limits}");
        assert!(refs.contains(&"Consent/ACP-TreatmentDirective-AdmissionToICU-2-Pat1".to_string()));
        // XML too.
        let xml = app.get_with("Patient/ACP-Patient-HendrikHartman-Pat1/$pzp-summary", &[("Accept", FHIR_XML)]).await.expect(200).text();
        assert!(xml.contains("<Bundle") && xml.contains("<Composition"), "{}", &xml[..200]);
    }

    async fn conflicts_care_team_markering_and_mdo(app) {
        anna(&app).await;
        let doc = app.get(&format!("Patient/$pzp-summary?identifier={BSN}|123456782")).await.expect(200).json();
        let (limits, _) = section(&doc, "Behandelgrenzen");
        assert!(limits.contains("TEGENSTRIJDIG: Reanimeren: JA") && limits.contains("TEGENSTRIJDIG: Reanimeren: NIET"), "{limits}");
        assert!(limits.contains("Opname IC: NIET"), "{limits}");
        let (central, refs) = section(&doc, "Centrale zorgverlener en hoofdbehandelaar");
        assert!(central.contains("Centrale zorgverlener: Sanne de Boer, Thuiszorg Oost, sinds 2025-10-01, tel. 06-12345678 / 030-1112233"), "{central}");
        assert_eq!(refs, ["CareTeam/team"]);
        let (markering, _) = section(&doc, "Markering palliatieve fase");
        assert!(markering.contains("terminale fase, gemarkeerd op 2025-10-01"), "{markering}");
        let (mdo, _) = section(&doc, "Laatste MDO-conclusie");
        assert!(mdo.contains("Geen ziekenhuisopname meer"), "{mdo}");
        // The printable page: the limits first, self-contained, in Dutch.
        let page = app.get("Patient/anna/$pzp-summary?_format=html").await.expect(200);
        assert!(page.header("content-type").unwrap().starts_with("text/html"));
        let html = page.text();
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("lang=\"nl\""));
        let limits_at = html.find("Behandelgrenzen").unwrap();
        assert!(limits_at < html.find("Centrale zorgverlener:").unwrap());
        assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"), "self-contained");
        assert!(html.contains("@media print"));
        // A browser gets the page too; a FHIR client the document.
        let browser = app.get_with("Patient/anna/$pzp-summary", &[("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")]).await.expect(200);
        assert!(browser.text().contains("Anna Visser"));
    }

    async fn the_summary_follows_the_access_policy(app) {
        anna(&app).await;
        let claims = |role: &str, purpose: Option<&str>| Claims {
            pzp_role: Some(role.into()), uzi: Some("900009".into()), ura: Some("99999999".into()),
            scope: Some("user/*.rs".into()), purpose_of_use: purpose.map(str::to_string),
            reason: purpose.map(|_| "reanimatie, 03:12".to_string()), ..Claims::default()
        };
        let stranger = format!("Bearer {}", app.token_for(claims("huisarts", None)));
        let emergency = format!("Bearer {}", app.token_for(claims("ambulance", Some("ETREAT"))));
        // Without a relationship: not found, by BSN and by id alike.
        app.get_with(&format!("Patient/$pzp-summary?identifier={BSN}|123456782"), &[("Authorization", &stranger)]).await.expect(404);
        app.get_with("Patient/anna/$pzp-summary", &[("Authorization", &stranger)]).await.expect(404);
        // An ambulance crew in an emergency: the plan, and the access is in the patient's trail.
        let doc = app.get_with(&format!("Patient/$pzp-summary?identifier={BSN}|123456782"), &[("Authorization", &emergency)]).await.expect(200).json();
        let (limits, _) = section(&doc, "Behandelgrenzen");
        assert!(limits.contains("Opname IC: NIET"), "{limits}");
        let patient = format!("Bearer {}", app.token_for(Claims {
            pzp_role: Some("patient".into()), bsn: Some("123456782".into()), scope: Some("patient/*.rs".into()), ..Claims::default()
        }));
        let trail = app.get_with("AuditEvent?patient=Patient/anna&_count=100", &[("Authorization", &patient)]).await.expect(200).json();
        assert!(trail["entry"].as_array().unwrap().iter().any(|e|
            e["resource"]["subtype"][0]["code"] == "operation"
            && e["resource"]["purposeOfEvent"][0]["text"] == "reanimatie, 03:12"), "{trail}");
        // The operation is published and listed.
        let def = app.get("OperationDefinition/pzp-summary").await.expect(200).json();
        assert_eq!(def["code"], "pzp-summary");
        let cs = app.get("metadata").await.expect(200).json();
        let patient_caps = cs["rest"][0]["resource"].as_array().unwrap().iter().find(|r| r["type"] == "Patient").unwrap();
        assert_eq!(patient_caps["operation"][0]["definition"], def["url"]);
        // Bad requests.
        app.get("Patient/$pzp-summary").await.expect(400);
        app.get(&format!("Patient/$pzp-summary?identifier={BSN}|000000000")).await.expect(404);
        app.send(Method::POST, "Patient/anna/$pzp-summary", &[], None).await.expect(405);
        app.get_with("Patient/anna/$pzp-summary", &[("Authorization", "")]).await.expect(401);
    }
}

/// The first of these programs on the PATH.
fn program(names: &[&str]) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// The printable plan, printed by headless Chromium to PDF, holds the plan's key texts.
#[actix_rt::test]
async fn the_printable_plan_prints() {
    let (Some(chromium), Some(pdftotext)) = (
        program(&["chromium", "chromium-browser", "google-chrome"]),
        program(&["pdftotext"]),
    ) else {
        eprintln!(
            "skipped: chromium and pdftotext (Debian: chromium, poppler-utils) are not installed"
        );
        return;
    };
    let app = spawn_app(Db::Sqlite).await.unwrap();
    anna(&app).await;
    let html = app
        .get("Patient/anna/$pzp-summary?_format=html")
        .await
        .expect(200)
        .text();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("plan.html");
    let pdf = dir.path().join("plan.pdf");
    std::fs::write(&page, html).unwrap();
    let printed = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-pdf-header-footer",
            &format!("--user-data-dir={}", dir.path().join("profile").display()),
            &format!("--print-to-pdf={}", pdf.display()),
            &format!("file://{}", page.display()),
        ])
        .output()
        .unwrap();
    assert!(
        pdf.is_file(),
        "no PDF: {}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let text = std::process::Command::new(pdftotext)
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    for expected in [
        "Proactieve zorgplanning",
        "Anna Visser",
        "Behandelgrenzen",
        "TEGENSTRIJDIG: Reanimeren: JA",
        "Opname IC: NIET",
        "Centrale zorgverlener: Sanne de Boer",
        "06-12345678",
        "Geen ziekenhuisopname meer",
    ] {
        assert!(
            text.contains(expected),
            "'{expected}' is not in the printed plan:\n{text}"
        );
    }
}
