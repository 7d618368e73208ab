//! The IKNL PZP (advance care planning) data exchange, end to end: both example patients are
//! loaded with their transaction Bundles from `shared/conformance/iknl/bundles`, then every query
//! of the guide's data-exchange page (and the Provider CapabilityStatement) must return exactly
//! the right resources and includes, as JSON and as XML, for each way of naming the patient.
//!
//! The expected ids are written out by hand from the bundles, so that a search that returns too
//! much (the other patient, the other kind of Consent) or too little fails here.

mod common;

use common::*;
use serde_json::{json, Value};

/// Hendrik Hartman: ACP conversations in 2020/2022, one ACP procedure (SNOMED 713603004).
const PAT1: &str = "ACP-Patient-HendrikHartman-Pat1";
/// Samira van der Sluijs: two ACP procedures coded in DHD CBV and NZa, not in SNOMED.
const PAT2: &str = "ACP-Patient-SamiraVanDerSluijs-Pat2";

const SCT: &str = "http://snomed.info/sct";
const DHD_CBV: &str = "urn:oid:2.16.840.1.113883.2.4.3.120.5.3";
const NZA: &str = "urn:oid:2.16.840.1.113883.2.4.3.27.15.5";
const QUESTIONNAIRE: &str = "https://api.iknl.nl/docs/pzp/r4/Questionnaire/ACP-zib2020";
const ICD_VALUESET: &str =
    "https://api.iknl.nl/docs/pzp/r4/ValueSet/ACP-MedicalDeviceProductType-ICD";
const GOAL_VALUESET: &str = "https://api.iknl.nl/docs/pzp/r4/ValueSet/ACP-MedicalPolicyGoal";

/// Query 2 of the guide, without the patient: treatment directives and their agreement parties.
const TREATMENT: &str = "scope=http://terminology.hl7.org/CodeSystem/consentscope|treatment&category=http://snomed.info/sct|129125009&_include=Consent:actor";
/// Query 3 of the guide, without the patient: advance directives and their representatives.
const ADVANCE: &str = "scope=http://terminology.hl7.org/CodeSystem/consentscope|adr&category=http://terminology.hl7.org/CodeSystem/consentcategorycodes|acd&_include=Consent:actor";
/// Query 5 of the guide: the wishes and plans; legal capacity (665671000146101) is not asked for.
const ACP_OBSERVATIONS: &str = "code=http://snomed.info/sct|153851000146100,395091006,340171000146104,247751003,570801000146104";

const TREATMENT_PAT1: [&str; 8] = [
    "ACP-TreatmentDirective-AdministrationOfBloodProduct-Pat1",
    "ACP-TreatmentDirective-AdmissionToICU-1-Pat1",
    "ACP-TreatmentDirective-AdmissionToICU-2-Pat1",
    "ACP-TreatmentDirective-AntibioticTherapy-Pat1",
    "ACP-TreatmentDirective-ArtificialRespiration-Pat1",
    "ACP-TreatmentDirective-CardiopulmonaryResuscitation-Pat1",
    "ACP-TreatmentDirective-HospitalAdmission-Pat1",
    "ACP-TreatmentDirective-SwitchOffICD-Pat1",
];
/// Includes the inactive `ArtificialRespiration-1-Pat2`: the guide's query does not filter on
/// status.
const TREATMENT_PAT2: [&str; 8] = [
    "ACP-TreatmentDirective-AdmissionToICU-Pat2",
    "ACP-TreatmentDirective-AntibioticTherapy-Pat2",
    "ACP-TreatmentDirective-ArtificialRespiration-1-Pat2",
    "ACP-TreatmentDirective-ArtificialRespiration-2-Pat2",
    "ACP-TreatmentDirective-CardiopulmonaryResuscitaion-Pat2",
    "ACP-TreatmentDirective-HospitalAdmission-Pat2",
    "ACP-TreatmentDirective-Other-Pat2",
    "ACP-TreatmentDirective-SwitchOffICD-Pat2",
];
const OBSERVATIONS_PAT1: [&str; 5] = [
    "ACP-OrganDonationChoiceRegistration-Pat1",
    "ACP-PositionRegardingEuthanasia-Pat1",
    "ACP-PreferredPlaceOfDeath-Pat1",
    "ACP-SenseOfPurpose-Pat1",
    "ACP-SpecificCareWishes-Pat1",
];
const OBSERVATIONS_PAT2: [&str; 5] = [
    "ACP-OrganDonationChoiceRegistrationInDonorRegister-Pat2",
    "ACP-PositionRegardingEuthanasia-Pat2",
    "ACP-PreferredPlaceOfDeath-Pat2",
    "ACP-SenseOfPurpose-Pat2",
    "ACP-SpecificCareWishes-Pat2",
];

/// Both transaction Bundles, or `None` when the shared fixtures are not beside this checkout.
fn bundles() -> Option<Vec<Value>> {
    let files = conformance_files(&["iknl/bundles"])?;
    assert_eq!(files.len(), 2, "one bundle per example patient: {files:?}");
    Some(
        files
            .iter()
            .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
            .collect(),
    )
}

/// A resource of `iknl/definitions`.
fn definition(file: &str) -> Value {
    let path = conformance_dir()
        .unwrap()
        .join("iknl/definitions")
        .join(file);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// POSTs one transaction Bundle to the base and checks the `transaction-response`: one entry per
/// request, each 201 (created) or 200 (updated). Returns the response statuses.
async fn post_transaction(app: &TestApp, bundle: &Value) -> Vec<String> {
    let answer = app.post_json("", bundle).await.expect(200).json();
    assert_eq!(answer["resourceType"], "Bundle", "{answer}");
    assert_eq!(answer["type"], "transaction-response", "{answer}");
    let entries = answer["entry"].as_array().expect("response entries");
    assert_eq!(
        entries.len(),
        bundle["entry"].as_array().unwrap().len(),
        "one response entry per request of {}",
        bundle["id"]
    );
    entries
        .iter()
        .map(|e| {
            let status = e["response"]["status"].as_str().expect("response.status");
            assert!(
                status.starts_with("201") || status.starts_with("200"),
                "{}: {e}",
                bundle["id"]
            );
            status.to_string()
        })
        .collect()
}

/// Loads both patients the way a provider would receive them: one transaction per patient.
/// `false` (after saying so) when the fixtures are absent, so the test can return.
async fn load_bundles(app: &TestApp) -> bool {
    let Some(bundles) = bundles() else {
        eprintln!("skipped: shared/conformance is not beside this checkout");
        return false;
    };
    for bundle in &bundles {
        post_transaction(app, bundle).await;
    }
    true
}

/// Checks that the server publishes this ValueSet of `iknl/definitions` in its conformance
/// package (for `:in` to expand) and keeps it read-only.
async fn held_value_set(app: &TestApp, value_set: &Value) {
    let url = value_set["url"].as_str().unwrap();
    assert_eq!(
        match_ids(app, &format!("ValueSet?url={url}")).await.len(),
        1,
        "{url} is held"
    );
    let path = format!("ValueSet/{}", value_set["id"].as_str().unwrap());
    app.put_json(&path, value_set).await.expect(405);
}

/// What a searchset holds: the ids of the matches, and the `Type/id` of the includes, sorted.
#[derive(Debug, PartialEq)]
struct Found {
    matches: Vec<String>,
    includes: Vec<String>,
}

/// Reads a searchset Bundle (as JSON, whichever format it came in). Any entry that is neither
/// a match nor an include (an `outcome` warning about an ignored parameter) fails the test.
fn found(bundle: &Value, query: &str) -> Found {
    assert_eq!(bundle["type"], "searchset", "{query}: {bundle}");
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    let mut matches = Vec::new();
    let mut includes = Vec::new();
    for e in &entries {
        let r = &e["resource"];
        let id = r["id"].as_str().unwrap().to_string();
        match e["search"]["mode"].as_str() {
            Some("match") => matches.push(id),
            Some("include") => {
                includes.push(format!("{}/{id}", r["resourceType"].as_str().unwrap()))
            }
            other => panic!("{query}: unexpected search.mode {other:?}: {e}"),
        }
    }
    matches.sort();
    includes.sort();
    assert_eq!(
        bundle["total"].as_u64(),
        Some(matches.len() as u64),
        "{query}: total counts the matches"
    );
    Found { matches, includes }
}

/// Runs one search as JSON and as XML (both with `handling=strict`, so an unsupported
/// parameter is an error rather than silently ignored); both answers must agree.
async fn search(app: &TestApp, query: &str) -> Found {
    let strict = ("Prefer", "handling=strict");
    let json = app.get_with(query, &[strict]).await.expect(200).json();
    let from_json = found(&json, query);

    let xml = app
        .get_with(query, &[strict, ("Accept", FHIR_XML)])
        .await
        .expect(200);
    let content_type = xml.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with(FHIR_XML),
        "{query}: {content_type}"
    );
    let parsed = fhir_format::parse(&xml.body, fhir_format::Format::Xml)
        .unwrap_or_else(|e| panic!("{query}: XML answer does not parse: {e:?}"));
    assert_eq!(
        found(&parsed, query),
        from_json,
        "{query}: XML and JSON differ"
    );
    from_json
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The ways of naming the patient: `patient=[id]`, `patient=Patient/[id]` and, where the type
/// has a `subject` parameter (Consent has none), `subject=Patient/[id]`.
fn patient_forms(query: &str, patient: &str) -> Vec<String> {
    let mut forms = vec![
        format!("patient={patient}"),
        format!("patient=Patient/{patient}"),
    ];
    if !query.starts_with("Consent?") {
        forms.push(format!("subject=Patient/{patient}"));
    }
    forms
}

/// Asserts a patient-scoped query, `{patient}` standing for the patient criterion, with every
/// form of it: exactly these matches (ids) and these includes (`Type/id`).
async fn check(app: &TestApp, query: &str, patient: &str, matches: &[&str], includes: &[&str]) {
    for form in patient_forms(query, patient) {
        let q = query.replace("{patient}", &form);
        let got = search(app, &q).await;
        assert_eq!(got.matches, strings(matches), "{q}: matches");
        assert_eq!(got.includes, strings(includes), "{q}: includes");
    }
}

/// The ids a query matches (includes must be absent).
async fn match_ids(app: &TestApp, query: &str) -> Vec<String> {
    let got = search(app, query).await;
    assert!(got.includes.is_empty(), "{query}: {got:?}");
    got.matches
}

backend_tests! {
    // Every entry of both bundles is stored under its own id, unchanged; sending a bundle again
    // updates every resource (200, version 2).
    async fn transaction_bundles_store_every_entry(app) {
        let Some(bundles) = bundles() else {
            eprintln!("skipped: shared/conformance is not beside this checkout");
            return;
        };
        for bundle in &bundles {
            let statuses = post_transaction(&app, bundle).await;
            assert!(statuses.iter().all(|s| s.starts_with("201")), "fresh database: all created: {statuses:?}");
        }
        for bundle in &bundles {
            for e in bundle["entry"].as_array().unwrap() {
                let url = e["request"]["url"].as_str().unwrap();
                let read = app.get(url).await.expect(200).json();
                assert_eq!(read["meta"]["versionId"], "1", "{url}");
                assert_eq!(without_server_meta(read), without_server_meta(e["resource"].clone()), "{url}");
            }
        }
        assert_eq!(match_ids(&app, "Patient").await, [PAT1, PAT2]);

        let statuses = post_transaction(&app, &bundles[0]).await;
        assert!(statuses.iter().all(|s| s.starts_with("200")), "second time: all updated: {statuses:?}");
        let read = app.get(&format!("Patient/{PAT1}")).await.expect(200).json();
        assert_eq!(read["meta"]["versionId"], "2");
    }

    // 1a and 1b: the ACP procedure and the encounter it took place in, found from either side.
    // Only Pat1's procedure is coded in SNOMED; Pat2's are DHD CBV and NZa codes and have no
    // `Procedure.encounter` (only `Encounter.reasonReference` links them).
    async fn acp_procedure_and_encounter(app) {
        if !load_bundles(&app).await { return; }
        let q1a = "Procedure?{patient}&code=http://snomed.info/sct|713603004&_include=Procedure:encounter";
        check(&app, q1a, PAT1, &["ACP-Procedure-Pat1"], &["Encounter/ACP-Encounter-Pat1"]).await;
        check(&app, q1a, PAT2, &[], &[]).await;

        let q1b = "Encounter?{patient}&reason-reference:Procedure.code=http://snomed.info/sct|713603004&_include=Encounter:reason-reference";
        check(&app, q1b, PAT1, &["ACP-Encounter-Pat1"], &["Procedure/ACP-Procedure-Pat1"]).await;
        check(&app, q1b, PAT2, &[], &[]).await;

        let dutch_codes = format!("{DHD_CBV}|411600B,{NZA}|190099");
        let q = format!("Procedure?{{patient}}&code={dutch_codes}&_include=Procedure:encounter");
        check(&app, &q, PAT2, &["ACP-Procedure-1-Pat2", "ACP-Procedure-2-Pat2"], &[]).await;
        check(&app, &q, PAT1, &[], &[]).await;

        let q = format!("Encounter?{{patient}}&reason-reference:Procedure.code={DHD_CBV}|411600B&_include=Encounter:reason-reference");
        check(&app, &q, PAT2, &["ACP-Encounter-1-Pat2"], &["Procedure/ACP-Procedure-1-Pat2"]).await;
        let q = format!("Encounter?{{patient}}&reason-reference:Procedure.code={dutch_codes}&_include=Encounter:reason-reference");
        check(&app, &q, PAT2, &["ACP-Encounter-1-Pat2", "ACP-Encounter-2-Pat2"],
            &["Procedure/ACP-Procedure-1-Pat2", "Procedure/ACP-Procedure-2-Pat2"]).await;
        check(&app, &q, PAT1, &[], &[]).await;
    }

    // 2 and 3: treatment directives with their agreement parties, advance directives with their
    // representatives; neither query returns the other kind.
    async fn treatment_and_advance_directives(app) {
        if !load_bundles(&app).await { return; }
        let q2 = format!("Consent?{{patient}}&{TREATMENT}");
        check(&app, &q2, PAT1, &TREATMENT_PAT1, &[
            "Patient/ACP-Patient-HendrikHartman-Pat1",
            "PractitionerRole/ACP-HealthProfessional-PractitionerRole-DrVanHuissen-Pat1",
            // Third agreement party of AdmissionToICU-2-Pat1 only.
            "RelatedPerson/ACP-ContactPerson-MichielHartman-Pat1",
        ]).await;
        check(&app, &q2, PAT2, &TREATMENT_PAT2, &[
            "Patient/ACP-Patient-SamiraVanDerSluijs-Pat2",
            "PractitionerRole/ACP-HealthProfessional-PractitionerRole-DesireeWolters-Pat2",
        ]).await;

        let q3 = format!("Consent?{{patient}}&{ADVANCE}");
        check(&app, &q3, PAT1, &["ACP-AdvanceDirective-DNR-Pat1"], &["RelatedPerson/ACP-ContactPerson-MichielHartman-Pat1"]).await;
        check(&app, &q3, PAT2, &["ACP-AdvanceDirective-DNR-Pat2"], &["RelatedPerson/ACP-ContactPerson-GertJanDeJong-Pat2"]).await;

        // Scope and category each separate the two kinds on their own; crossed, nothing matches.
        for patient in [PAT1, PAT2] {
            let q = "Consent?{patient}&scope=http://terminology.hl7.org/CodeSystem/consentscope|adr";
            let adr = if patient == PAT1 { "ACP-AdvanceDirective-DNR-Pat1" } else { "ACP-AdvanceDirective-DNR-Pat2" };
            check(&app, q, patient, &[adr], &[]).await;
            let q = "Consent?{patient}&category=http://terminology.hl7.org/CodeSystem/consentcategorycodes|acd";
            check(&app, q, patient, &[adr], &[]).await;
            let treatment = if patient == PAT1 { &TREATMENT_PAT1 } else { &TREATMENT_PAT2 };
            check(&app, "Consent?{patient}&scope=http://terminology.hl7.org/CodeSystem/consentscope|treatment", patient, treatment, &[]).await;
            check(&app, "Consent?{patient}&category=http://snomed.info/sct|129125009", patient, treatment, &[]).await;
            check(&app, "Consent?{patient}&scope=http://terminology.hl7.org/CodeSystem/consentscope|adr&category=http://snomed.info/sct|129125009", patient, &[], &[]).await;
            check(&app, "Consent?{patient}&scope=http://terminology.hl7.org/CodeSystem/consentscope|treatment&category=http://terminology.hl7.org/CodeSystem/consentcategorycodes|acd", patient, &[], &[]).await;
        }
    }

    // 4: the medical policy goal, by its `description` code (R5 parameter the guide adopts) and
    // by `category` 713603004 (older text of the guide). The two patients chose different goals.
    async fn medical_policy_goal(app) {
        if !load_bundles(&app).await { return; }
        let all_goals = format!("Goal?{{patient}}&description={SCT}|385987000,{SCT}|1351964001,{SCT}|713148004");
        check(&app, &all_goals, PAT1, &["ACP-MedicalPolicyGoal-Pat1"], &[]).await;
        check(&app, &all_goals, PAT2, &["ACP-MedicalPolicyGoal-Pat2"], &[]).await;
        let prolonging = format!("Goal?{{patient}}&description={SCT}|1351964001");
        check(&app, &prolonging, PAT1, &["ACP-MedicalPolicyGoal-Pat1"], &[]).await;
        check(&app, &prolonging, PAT2, &[], &[]).await;
        let symptoms = format!("Goal?{{patient}}&description={SCT}|713148004");
        check(&app, &symptoms, PAT1, &[], &[]).await;
        check(&app, &symptoms, PAT2, &["ACP-MedicalPolicyGoal-Pat2"], &[]).await;

        let q4 = "Goal?{patient}&category=http://snomed.info/sct|713603004";
        check(&app, q4, PAT1, &["ACP-MedicalPolicyGoal-Pat1"], &[]).await;
        check(&app, q4, PAT2, &["ACP-MedicalPolicyGoal-Pat2"], &[]).await;
    }

    // 5: the ACP observations; legal capacity is stored but not part of the guide's query.
    async fn acp_observations(app) {
        if !load_bundles(&app).await { return; }
        let q5 = format!("Observation?{{patient}}&{ACP_OBSERVATIONS}");
        check(&app, &q5, PAT1, &OBSERVATIONS_PAT1, &[]).await;
        check(&app, &q5, PAT2, &OBSERVATIONS_PAT2, &[]).await;
        let legal = "Observation?{patient}&code=http://snomed.info/sct|665671000146101";
        check(&app, legal, PAT1, &["ACP-LegallyCapable-Pat1"], &[]).await;
        check(&app, legal, PAT2, &["ACP-LegallyCapable-Pat2"], &[]).await;
    }

    // 6 with the ICD codes spelled out: the DeviceUseStatement by the chained `device.type`,
    // with its Device included. Both ICDs are 72506001; a sibling ICD code matches neither.
    async fn icd_device_use(app) {
        if !load_bundles(&app).await { return; }
        let icd_codes = ["72506001", "465460004", "468542000", "704707009", "1263462004", "1236894001"]
            .map(|c| format!("{SCT}|{c}"))
            .join(",");
        let q6 = format!("DeviceUseStatement?{{patient}}&device.type={icd_codes}&_include=DeviceUseStatement:device");
        check(&app, &q6, PAT1, &["ACP-MedicalDevice-ICD-Pat1"], &["Device/ACP-MedicalDeviceProduct-ICD-Pat1"]).await;
        check(&app, &q6, PAT2, &["ACP-MedicalDevice-ICD-Pat2"], &["Device/ACP-MedicalDeviceProduct-ICD-Pat2"]).await;
        let other = format!("DeviceUseStatement?{{patient}}&device.type={SCT}|465460004&_include=DeviceUseStatement:device");
        check(&app, &other, PAT1, &[], &[]).await;
        check(&app, &other, PAT2, &[], &[]).await;
    }

    // `:in` expands a stored ValueSet: 6 exactly as the guide writes it (chained
    // `device.type:in`), `Device?type:in` (SHALL in the CapabilityStatement), the goal ValueSet
    // on `Goal.description`, and a whole-system include that takes every SNOMED code but no
    // DHD CBV or NZa code.
    async fn in_modifier_expands_value_sets(app) {
        if !load_bundles(&app).await { return; }
        let icd = definition("ValueSet-ACP-MedicalDeviceProductType-ICD.json");
        assert_eq!(icd["url"], ICD_VALUESET);
        held_value_set(&app, &icd).await;
        let goal = definition("ValueSet-ACP-MedicalPolicyGoal.json");
        assert_eq!(goal["url"], GOAL_VALUESET);
        held_value_set(&app, &goal).await;

        let q6 = format!("DeviceUseStatement?{{patient}}&device.type:in={ICD_VALUESET}&_include=DeviceUseStatement:device");
        check(&app, &q6, PAT1, &["ACP-MedicalDevice-ICD-Pat1"], &["Device/ACP-MedicalDeviceProduct-ICD-Pat1"]).await;
        check(&app, &q6, PAT2, &["ACP-MedicalDevice-ICD-Pat2"], &["Device/ACP-MedicalDeviceProduct-ICD-Pat2"]).await;
        assert_eq!(
            match_ids(&app, &format!("Device?type:in={ICD_VALUESET}")).await,
            ["ACP-MedicalDeviceProduct-ICD-Pat1", "ACP-MedicalDeviceProduct-ICD-Pat2"]
        );
        let wrong_set = format!("DeviceUseStatement?{{patient}}&device.type:in={GOAL_VALUESET}");
        check(&app, &wrong_set, PAT1, &[], &[]).await;

        let q4 = format!("Goal?{{patient}}&description:in={GOAL_VALUESET}");
        check(&app, &q4, PAT1, &["ACP-MedicalPolicyGoal-Pat1"], &[]).await;
        check(&app, &q4, PAT2, &["ACP-MedicalPolicyGoal-Pat2"], &[]).await;

        let all_snomed = json!({
            "resourceType": "ValueSet", "id": "all-snomed", "status": "active",
            "url": "http://example.org/fhir/ValueSet/all-snomed",
            "compose": {"include": [{"system": SCT}]}
        });
        app.put_json("ValueSet/all-snomed", &all_snomed).await.expect(201);
        let q = "Procedure?{patient}&code:in=http://example.org/fhir/ValueSet/all-snomed";
        check(&app, q, PAT1, &["ACP-Procedure-Pat1"], &[]).await;
        check(&app, q, PAT2, &[], &[]).await;
    }

    // 7: the request to inform relatives.
    async fn inform_relatives_request(app) {
        if !load_bundles(&app).await { return; }
        let q7 = "CommunicationRequest?{patient}&category=http://snomed.info/sct|223449006";
        check(&app, q7, PAT1, &["ACP-InformRelativesRequest-Pat1"], &[]).await;
        check(&app, q7, PAT2, &["ACP-InformRelativesRequest-Pat2"], &[]).await;
    }

    // Method 2: the ACP form. Pat1's response (rc1) has no `subject`, only `source`, so a
    // patient-scoped search finds none for Pat1; Pat2's answers rc3. The stored canonicals carry
    // a `|version`: the plain URL matches every version, `URL|version` only that one.
    async fn questionnaire_responses(app) {
        if !load_bundles(&app).await { return; }
        let q = format!("QuestionnaireResponse?{{patient}}&questionnaire={QUESTIONNAIRE}");
        check(&app, &q, PAT1, &[], &[]).await;
        check(&app, &q, PAT2, &["SamiraVanDerSluijs-20251117"], &[]).await;
        let rc3 = format!("QuestionnaireResponse?{{patient}}&questionnaire={QUESTIONNAIRE}|1.0.0-rc3");
        check(&app, &rc3, PAT2, &["SamiraVanDerSluijs-20251117"], &[]).await;
        let rc1 = format!("QuestionnaireResponse?{{patient}}&questionnaire={QUESTIONNAIRE}|1.0.0-rc1");
        check(&app, &rc1, PAT2, &[], &[]).await;

        assert_eq!(
            match_ids(&app, &format!("QuestionnaireResponse?questionnaire={QUESTIONNAIRE}")).await,
            ["HendrikHartman-20221108", "SamiraVanDerSluijs-20251117"]
        );
        assert_eq!(
            match_ids(&app, &format!("QuestionnaireResponse?questionnaire={QUESTIONNAIRE}|1.0.0-rc1")).await,
            ["HendrikHartman-20221108"]
        );
        assert_eq!(
            match_ids(&app, &format!("QuestionnaireResponse?source=Patient/{PAT1}&questionnaire={QUESTIONNAIRE}")).await,
            ["HendrikHartman-20221108"]
        );
    }

    // A patient criterion alone returns that patient's resources of the type and nothing of the
    // other patient.
    async fn patient_scope_never_crosses(app) {
        if !load_bundles(&app).await { return; }
        let mut consents_pat1 = vec!["ACP-AdvanceDirective-DNR-Pat1"];
        consents_pat1.extend(TREATMENT_PAT1);
        let mut consents_pat2 = vec!["ACP-AdvanceDirective-DNR-Pat2"];
        consents_pat2.extend(TREATMENT_PAT2);
        let mut observations_pat1 = vec!["ACP-LegallyCapable-Pat1"];
        observations_pat1.extend(OBSERVATIONS_PAT1);
        let mut observations_pat2 = vec!["ACP-LegallyCapable-Pat2"];
        observations_pat2.extend(OBSERVATIONS_PAT2);
        let cases: [(&str, Vec<&str>, Vec<&str>); 8] = [
            ("Procedure", vec!["ACP-Procedure-Pat1"], vec!["ACP-Procedure-1-Pat2", "ACP-Procedure-2-Pat2"]),
            ("Encounter", vec!["ACP-Encounter-Pat1"], vec!["ACP-Encounter-1-Pat2", "ACP-Encounter-2-Pat2"]),
            ("Consent", consents_pat1, consents_pat2),
            ("Goal", vec!["ACP-MedicalPolicyGoal-Pat1"], vec!["ACP-MedicalPolicyGoal-Pat2"]),
            ("Observation", observations_pat1, observations_pat2),
            ("DeviceUseStatement", vec!["ACP-MedicalDevice-ICD-Pat1"], vec!["ACP-MedicalDevice-ICD-Pat2"]),
            ("CommunicationRequest", vec!["ACP-InformRelativesRequest-Pat1"], vec!["ACP-InformRelativesRequest-Pat2"]),
            ("QuestionnaireResponse", vec![], vec!["SamiraVanDerSluijs-20251117"]),
        ];
        for (resource_type, pat1, pat2) in cases {
            let q = format!("{resource_type}?{{patient}}");
            check(&app, &q, PAT1, &pat1, &[]).await;
            check(&app, &q, PAT2, &pat2, &[]).await;
        }
    }
}
