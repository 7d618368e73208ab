//! The access policy: which patients' records a caller may see and change, and which parts.
//!
//! The whole policy is the table [`POLICY`]; everything else computes its inputs (who has a
//! care relationship with whom, who consented or objected) and turns it into search
//! conditions, so that one rule serves every path that returns data (read, search, includes,
//! chains, history, transactions). A resource the caller may not see is answered as if it
//! did not exist (404); what the caller's role or scopes never allow is 403.

use serde_json::Value;

use super::scope::Permission;
use super::{Principal, Role, BSN, URA, UZI};
use crate::error::{ErrorKind, FhirError};
use crate::search::patient_id;
use crate::store::{Condition, Patients, RefMatch, SearchQuery, Tx};

/// How sharing between organisations is decided (`PZP_CONSENT_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConsentMode {
    /// Wabvpz: other organisations read only when the patient's sharing consent is recorded.
    #[default]
    Explicit,
    /// The care relationship suffices.
    Implied,
}

impl ConsentMode {
    pub fn parse(text: &str) -> Option<ConsentMode> {
        match text {
            "explicit" => Some(ConsentMode::Explicit),
            "implied" => Some(ConsentMode::Implied),
            _ => None,
        }
    }
}

/// On what ground a rule opens a patient's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// The caller (UZI) or their organisation (URA) is an active participant of the patient's
    /// CareTeam (directly or through a PractitionerRole), or manages their EpisodeOfCare; for
    /// reading by another organisation than the recording one, also consent (see
    /// [`ConsentMode`]). An objection always closes it.
    CareRelationship,
    /// Purpose of use `ETREAT` with a reason, without a care relationship; never when the
    /// patient objected.
    Emergency,
    /// The patient's own record (BSN in the token).
    OwnRecord,
}

/// Which parts of an open record a rule shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Everything but the audit trail.
    Full,
    /// Wishes, contact persons and the care team (centrale zorgverlener); no medical details.
    Wishes,
    /// What an acute-care crew needs: the plan (directives, wishes, goals, ICD), contacts, the
    /// markering, the care team and the last MDO conclusion.
    Emergency,
    /// Everything including the audit trail of the record.
    Own,
}

pub struct Rule {
    pub roles: &'static [Role],
    pub basis: Basis,
    pub view: View,
    pub may: &'static [Permission],
}

use Permission::{Create as C, Delete as D, Read as R, Search as S, Update as U};

const CARE: &[Role] = &[
    Role::Huisarts,
    Role::MedischSpecialist,
    Role::Verpleegkundige,
    Role::Wijkverpleegkundige,
    Role::PzVerpleegkundige,
    Role::Apotheker,
    Role::Hospice,
    Role::Ambulance,
    Role::Huisartsenpost,
    Role::Seh,
];

/// The policy. Beyond it: every organisation reads what it recorded itself; directory
/// resources (practitioners, organisations, questionnaires, conformance) are readable by
/// everyone and changed only by the organisation that recorded them; only a `system` creates
/// Patients; AuditEvents are written by the server alone, read by the patient they concern and
/// by the `system` of the organisation whose users they record.
pub const POLICY: &[Rule] = &[
    Rule {
        roles: CARE,
        basis: Basis::CareRelationship,
        view: View::Full,
        may: &[C, R, U, D, S],
    },
    Rule {
        roles: &[Role::System],
        basis: Basis::CareRelationship,
        view: View::Full,
        may: &[C, R, U, D, S],
    },
    Rule {
        roles: &[Role::SociaalWerker, Role::Vrijwilliger],
        basis: Basis::CareRelationship,
        view: View::Wishes,
        may: &[R, S],
    },
    Rule {
        roles: &[Role::Ambulance, Role::Huisartsenpost, Role::Seh],
        basis: Basis::Emergency,
        view: View::Emergency,
        may: &[R, S],
    },
    Rule {
        roles: &[Role::Patient],
        basis: Basis::OwnRecord,
        view: View::Own,
        may: &[R, S],
    },
];

const SNOMED: &str = "http://snomed.info/sct";
/// The Observations of the wishes view: specific care wishes, preferred place of death,
/// sense of purpose.
const WISH_CODES: &[&str] = &["153851000146100", "395091006", "247751003"];

/// Where a resource type names the patient whose record it belongs to: (type, search
/// parameter, element).
const COMPARTMENT: &[(&str, &str, &str)] = &[
    ("AuditEvent", "patient", "entity.what"),
    ("CarePlan", "subject", "subject"),
    ("CareTeam", "subject", "subject"),
    ("Communication", "subject", "subject"),
    ("CommunicationRequest", "subject", "subject"),
    ("Composition", "subject", "subject"),
    ("Condition", "subject", "subject"),
    ("Consent", "patient", "patient"),
    ("Device", "patient", "patient"),
    ("DeviceUseStatement", "subject", "subject"),
    ("DocumentReference", "subject", "subject"),
    ("Encounter", "subject", "subject"),
    ("EpisodeOfCare", "patient", "patient"),
    ("Flag", "subject", "subject"),
    ("Goal", "subject", "subject"),
    ("Observation", "subject", "subject"),
    ("Procedure", "subject", "subject"),
    ("QuestionnaireResponse", "subject", "subject"),
    ("RelatedPerson", "patient", "patient"),
    ("Task", "subject", "for"),
];

/// Resources about no patient: readable by every caller.
const DIRECTORY: &[&str] = &[
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
    "HealthcareService",
    "Endpoint",
    "Questionnaire",
    "StructureDefinition",
    "ValueSet",
    "CodeSystem",
    "SearchParameter",
    "CapabilityStatement",
    "OperationDefinition",
    "NamingSystem",
    "ConceptMap",
    "CompartmentDefinition",
    "ImplementationGuide",
];

fn view_shows(view: View, res_type: &str) -> bool {
    match view {
        View::Own => true,
        View::Full => res_type != "AuditEvent",
        View::Wishes => matches!(
            res_type,
            "Patient" | "RelatedPerson" | "CareTeam" | "Observation"
        ),
        View::Emergency => matches!(
            res_type,
            "Patient"
                | "Consent"
                | "RelatedPerson"
                | "CareTeam"
                | "EpisodeOfCare"
                | "Observation"
                | "Goal"
                | "Device"
                | "DeviceUseStatement"
                | "DocumentReference"
                | "CarePlan"
        ),
    }
}

/// Whether a resource type holds no patient data.
pub fn is_directory(res_type: &str) -> bool {
    DIRECTORY.contains(&res_type)
}

/// The search parameters that name a resource's patient.
fn compartment_params(res_type: &str) -> Vec<String> {
    COMPARTMENT
        .iter()
        .filter(|(t, _, _)| *t == res_type)
        .map(|(_, p, _)| p.to_string())
        .collect()
}

/// The ids of the patients a resource belongs to.
pub fn patients_of(resource: &Value) -> Vec<String> {
    let res_type = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if res_type == "Patient" {
        return resource
            .get("id")
            .and_then(Value::as_str)
            .map(|id| vec![id.to_string()])
            .unwrap_or_default();
    }
    let mut out = Vec::new();
    for (_, _, path) in COMPARTMENT.iter().filter(|(t, _, _)| *t == res_type) {
        let mut values = vec![resource];
        for step in path.split('.') {
            values = values
                .into_iter()
                .filter_map(|v| v.get(step))
                .flat_map(|v| match v {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                })
                .collect();
        }
        for v in values {
            if let Some(id) = v
                .get("reference")
                .and_then(Value::as_str)
                .and_then(patient_id)
            {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
    }
    out
}

/// One caller's access, worked out once per request from the records that establish it.
pub struct Access<'p> {
    pub who: &'p Principal,
    /// Who the caller is in care teams and episodes: their Practitioners, PractitionerRoles
    /// and Organizations, and their UZI and URA as logical references.
    members: Vec<RefMatch>,
    /// Today (`YYYY-MM-DD`): care links count on the days their period covers.
    day: String,
    /// A patient's own Patient resources.
    own: Vec<String>,
}

impl<'p> Access<'p> {
    /// Works out the caller's access. Emergency access without a reason, or by a role that is
    /// not in the acute chain, is refused here.
    pub fn load(tx: &mut Tx, who: &'p Principal) -> Result<Self, FhirError> {
        if let Some(reason) = &who.emergency {
            if !who.role.is_acute() {
                return Err(forbidden(format!(
                    "emergency access (purpose of use ETREAT) is for ambulance, huisartsenpost and seh, not {}",
                    who.role.code()
                )));
            }
            if reason.trim().is_empty() {
                return Err(forbidden(
                    "emergency access (purpose of use ETREAT) needs a reason in the token's 'reason' claim".into(),
                ));
            }
        }
        let mut access = Access {
            who,
            members: Vec::new(),
            day: chrono::Utc::now().format("%Y-%m-%d").to_string(),
            own: Vec::new(),
        };
        if who.role == Role::Patient {
            let bsn = who.bsn.as_deref().unwrap_or_default();
            let found = search(
                tx,
                "Patient",
                vec![Condition::token("identifier", Some(BSN), bsn)],
            )?;
            access.own = found.iter().filter_map(id_of).collect();
            return Ok(access);
        }
        access.members = members(tx, who)?;
        Ok(access)
    }

    /// A patient's own Patient ids; `None` for every other role.
    pub fn own_patients(&self) -> Option<&[String]> {
        (self.who.role == Role::Patient).then_some(self.own.as_slice())
    }

    /// The patients whose record the caller's care relationship opens: with the sharing
    /// consent the mode asks for, never against an objection.
    fn related(&self, consent: bool) -> Patients {
        Patients::Linked {
            members: self.members.clone(),
            day: self.day.clone(),
            consent,
        }
    }

    /// The rules of the caller's role.
    fn rules(&self) -> impl Iterator<Item = &'static Rule> + '_ {
        POLICY
            .iter()
            .filter(|r| r.roles.contains(&self.who.role))
            .filter(|r| r.basis != Basis::Emergency || self.who.emergency.is_some())
    }

    /// 403 unless the caller's role and scopes allow `permission` on `res_type` at all.
    pub fn require(&self, res_type: &str, permission: Permission) -> Result<(), FhirError> {
        if !self.who.scopes.allow(res_type, permission) {
            return Err(forbidden(format!(
                "the token's scopes do not allow {} on {res_type}",
                permission.describe()
            )));
        }
        let reads = matches!(permission, Permission::Read | Permission::Search);
        let allowed = if res_type == "AuditEvent" {
            reads && matches!(self.who.role, Role::Patient | Role::System)
        } else if reads && is_directory(res_type) {
            true
        } else if is_directory(res_type) {
            self.who.role != Role::Patient && self.who.emergency.is_none()
        } else {
            // An organisation reads what it recorded itself, whatever its view.
            (reads && self.who.role != Role::Patient)
                || self
                    .rules()
                    .any(|r| r.may.contains(&permission) && view_shows(r.view, res_type))
        };
        if allowed {
            Ok(())
        } else {
            Err(forbidden(format!(
                "the role {} may not {} {res_type} resources",
                self.who.role.code(),
                permission.describe()
            )))
        }
    }

    /// The condition a `res_type` resource meets when the caller may see it; `None` when
    /// every one is visible.
    pub fn visible(&self, res_type: &str) -> Option<Condition> {
        if is_directory(res_type) {
            return None;
        }
        let params = compartment_params(res_type);
        let mut any = Vec::new();
        if let (Some(ura), true) = (&self.who.ura, self.who.role != Role::Patient) {
            any.push(Condition::RecordedBy(ura.clone()));
        }
        if res_type == "AuditEvent" && self.who.role != Role::Patient {
            return Some(Condition::Any(any));
        }
        if res_type == "Provenance" {
            // Who changed a resource is seen by whoever sees the resource.
            if self.rules().any(|r| view_shows(r.view, res_type)) {
                let targets = COMPARTMENT
                    .iter()
                    .map(|(t, _, _)| *t)
                    .chain(["Patient"])
                    .chain(DIRECTORY.iter().copied())
                    .filter(|t| !matches!(*t, "Provenance" | "AuditEvent"))
                    .map(|t| {
                        let seen = self.visible(t).unwrap_or(Condition::All(Vec::new()));
                        (t.to_string(), seen)
                    })
                    .collect();
                any.push(Condition::Chain {
                    param: "target".into(),
                    targets,
                });
            }
            return Some(Condition::Any(any));
        }
        let in_record = |patients: Patients| {
            if params.is_empty() && res_type != "Patient" {
                return Condition::Nothing;
            }
            Condition::Compartment {
                params: params.clone(),
                patients,
            }
        };
        for rule in self.rules() {
            if !view_shows(rule.view, res_type) {
                continue;
            }
            let explicit = self.who.consent == ConsentMode::Explicit;
            let mut part = match rule.basis {
                Basis::OwnRecord => in_record(Patients::Ids(self.own.clone())),
                Basis::CareRelationship => in_record(self.related(explicit)),
                Basis::Emergency => in_record(Patients::NotObjecting),
            };
            if rule.view == View::Wishes && res_type == "Observation" {
                part = Condition::All(vec![
                    part,
                    Condition::Token {
                        param: "code".into(),
                        values: WISH_CODES
                            .iter()
                            .map(|c| crate::store::TokenMatch {
                                system: Some(Some(SNOMED.into())),
                                code: Some(c.to_string()),
                            })
                            .collect(),
                        except: Vec::new(),
                        text: None,
                        negate: false,
                    },
                ]);
            }
            any.push(part);
        }
        Some(Condition::Any(any))
    }

    /// Whether the caller may write a version of `res_type/id` whose current version (when
    /// `exists`) belongs to the patients `before` and the new one to `after`. Visibility of
    /// the current version is checked by the caller first.
    ///
    /// Creating needs a care relationship with every patient concerned (or starting the
    /// record, see [`Self::may_start_record`]). An organisation may also amend what it
    /// recorded itself, for the same patients, without a current care relationship: the author
    /// of an entry answers for it and must be able to correct it.
    pub fn may_write(
        &self,
        tx: &mut Tx,
        res_type: &str,
        id: &str,
        before: &[String],
        after: &[String],
        exists: bool,
    ) -> Result<(), FhirError> {
        let mut patients = before.to_vec();
        patients.extend(after.iter().filter(|p| !before.contains(p)).cloned());
        let patients = patients.as_slice();
        let ura = self.who.ura.clone().unwrap_or_default();
        let own_record =
            |tx: &mut Tx| -> Result<bool, FhirError> { Ok(tx.is_recorded_by(res_type, id, &ura)?) };
        if is_directory(res_type) {
            if exists && !own_record(tx)? {
                return Err(forbidden(format!(
                    "{res_type}/{id} was recorded by another organisation; only that organisation may change it"
                )));
            }
            return Ok(());
        }
        if res_type == "Patient" && !exists && self.who.role != Role::System {
            return Err(forbidden(
                "new patients are registered by an organisation's system (role system)".into(),
            ));
        }
        if exists
            && self.who.emergency.is_none()
            && after.iter().all(|p| before.contains(p))
            && own_record(tx)?
        {
            return Ok(());
        }
        if patients.is_empty() {
            if exists {
                return Err(forbidden(format!(
                    "{res_type}/{id} belongs to no patient and was recorded by another organisation"
                )));
            }
            return Ok(());
        }
        for p in patients {
            if res_type == "Patient" && !exists {
                continue;
            }
            // A plan Bundle writes many resources of one patient: checked once while the care
            // relationships stay as they are.
            let granted = format!("may write the record of Patient/{p}");
            if tx.remembers(&granted) {
                continue;
            }
            if self.is_related(tx, p)? {
                tx.remember(granted);
                continue;
            }
            let writing = (res_type == "CareTeam").then_some(id);
            // On PostgreSQL each statement reads what is committed when it runs: a care team
            // that kept this record from being started may have been committed after the
            // first look, and may name the caller.
            if self.may_start_record(tx, p, writing)? || self.is_related(tx, p)? {
                tx.remember(granted);
                continue;
            }
            return Err(forbidden(format!(
                "no care relationship with Patient/{p}: neither you nor your organisation is an active participant of the patient's CareTeam or manages the patient's EpisodeOfCare"
            )));
        }
        Ok(())
    }

    /// Whether the caller has a care relationship with the patient now (consent does not
    /// matter for writing one's own part of the record).
    fn is_related(&self, tx: &mut Tx, patient: &str) -> Result<bool, FhirError> {
        if self.members.is_empty() {
            return Ok(false);
        }
        Ok(tx.is_linked(patient, &self.members, &self.day)?)
    }

    /// A record is started by the organisation that registered the patient until the patient
    /// has a care team; from then on the team decides.
    /// `writing`: the CareTeam being written now, which does not count yet.
    fn may_start_record(
        &self,
        tx: &mut Tx,
        patient: &str,
        writing: Option<&str>,
    ) -> Result<bool, FhirError> {
        let Some(ura) = &self.who.ura else {
            return Ok(false);
        };
        let team = search(
            tx,
            "CareTeam",
            vec![Condition::Reference {
                param: "subject".into(),
                values: vec![RefMatch::Id {
                    target_type: Some("Patient".into()),
                    id: patient.to_string(),
                }],
            }],
        )?;
        if team.iter().any(|t| id_of(t).as_deref() != writing) {
            return Ok(false);
        }
        // A patient not held here is refused like one the caller may not see, so that the
        // answer does not tell them apart.
        let held = tx.current("Patient", patient)?.is_some_and(|v| !v.deleted);
        if !held {
            return Ok(false);
        }
        let mine = search(
            tx,
            "Patient",
            vec![
                Condition::Id(vec![patient.to_string()]),
                Condition::RecordedBy(ura.clone()),
            ],
        )?;
        Ok(!mine.is_empty())
    }
}

impl Permission {
    pub fn describe(self) -> &'static str {
        match self {
            Permission::Create => "create",
            Permission::Read => "read",
            Permission::Update => "update",
            Permission::Delete => "delete",
            Permission::Search => "search",
        }
    }
}

fn forbidden(text: String) -> FhirError {
    FhirError::new(ErrorKind::Forbidden, "forbidden", text)
}

fn id_of(resource: &Value) -> Option<String> {
    resource
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn search(
    tx: &mut Tx,
    res_type: &str,
    conditions: Vec<Condition>,
) -> Result<Vec<Value>, FhirError> {
    Ok(tx.search_resources(&SearchQuery::unsorted(res_type, conditions, 100_000))?)
}

/// Who the caller is as a member of care teams and episodes: the Practitioners with their
/// UZI, the Organizations with their URA, the PractitionerRoles of either, and the UZI and
/// URA themselves (for logical references).
fn members(tx: &mut Tx, who: &Principal) -> Result<Vec<RefMatch>, FhirError> {
    let ids = |found: Vec<Value>| -> Vec<String> { found.iter().filter_map(id_of).collect() };
    let practitioners = match &who.uzi {
        Some(uzi) => ids(search(
            tx,
            "Practitioner",
            vec![Condition::token("identifier", Some(UZI), uzi)],
        )?),
        None => Vec::new(),
    };
    let organizations = match &who.ura {
        Some(ura) => ids(search(
            tx,
            "Organization",
            vec![Condition::token("identifier", Some(URA), ura)],
        )?),
        None => Vec::new(),
    };
    let by = |param: &str, res_type: &str, list: &[String]| Condition::Reference {
        param: param.into(),
        values: list
            .iter()
            .map(|id| RefMatch::Id {
                target_type: Some(res_type.into()),
                id: id.clone(),
            })
            .collect(),
    };
    let mut roles = Vec::new();
    for (param, res_type, list) in [
        ("practitioner", "Practitioner", &practitioners),
        ("organization", "Organization", &organizations),
    ] {
        if !list.is_empty() {
            roles.extend(ids(search(
                tx,
                "PractitionerRole",
                vec![by(param, res_type, list)],
            )?));
        }
    }
    let literal = |t: &str, list: &[String]| {
        list.iter()
            .map(|id| RefMatch::Id {
                target_type: Some(t.to_string()),
                id: id.clone(),
            })
            .collect::<Vec<_>>()
    };
    let mut out = literal("Practitioner", &practitioners);
    out.extend(literal("Organization", &organizations));
    out.extend(literal("PractitionerRole", &roles));
    for (system, value) in [(UZI, &who.uzi), (URA, &who.ura)] {
        if let Some(v) = value {
            out.push(RefMatch::Identifier {
                system: Some(system.to_string()),
                value: v.clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scopes;

    fn principal(role: Role, emergency: Option<&str>) -> Principal {
        Principal {
            role,
            uzi: Some("1".into()),
            name: None,
            ura: Some("2".into()),
            organization_name: None,
            bsn: Some("3".into()),
            scopes: Scopes::parse("system/*.cruds"),
            emergency: emergency.map(str::to_string),
            address: None,
            consent: ConsentMode::Explicit,
        }
    }

    fn access(who: &Principal) -> Access<'_> {
        Access {
            who,
            members: Vec::new(),
            day: "2026-01-01".into(),
            own: Vec::new(),
        }
    }

    /// What each role may do at all, before any patient is concerned: the policy as a table.
    #[test]
    fn the_policy_table() {
        use Permission::*;
        let asks = [
            ("Consent", Read),
            ("Consent", Create),
            ("Condition", Search),
            ("Observation", Update),
            ("AuditEvent", Search),
            ("AuditEvent", Create),
            ("Practitioner", Read),
            ("Practitioner", Create),
        ];
        // y: allowed, n: 403. Reading other types than a view shows is allowed for an
        // organisation's own records, so the view shows in `visible`, not here.
        let table = [
            (Role::Huisarts, None, "yyyynnyy"),
            (Role::Apotheker, None, "yyyynnyy"),
            (Role::System, None, "yyyyynyy"),
            (Role::SociaalWerker, None, "ynynnnyy"),
            (Role::Vrijwilliger, None, "ynynnnyy"),
            (Role::Ambulance, Some("reanimatie"), "yyyynnyn"),
            (Role::Patient, None, "ynynynyn"),
        ];
        for (role, emergency, expected) in table {
            let who = principal(role, emergency);
            let got: String = asks
                .iter()
                .map(|(t, p)| {
                    if access(&who).require(t, *p).is_ok() {
                        'y'
                    } else {
                        'n'
                    }
                })
                .collect();
            assert_eq!(got, expected, "{}", role.code());
        }
    }

    #[test]
    fn views_decide_which_types_show_a_patients_record() {
        let social = principal(Role::SociaalWerker, None);
        let shows = |who: &Principal, t: &str| {
            let a = access(who);
            // Beyond the organisation's own records (the first alternative), anything?
            matches!(a.visible(t), Some(Condition::Any(list)) if list.len() > 1)
        };
        assert!(shows(&social, "Observation") && shows(&social, "CareTeam"));
        assert!(!shows(&social, "Consent") && !shows(&social, "Condition"));
        let emergency = principal(Role::Seh, Some("bewusteloos binnengebracht"));
        assert!(shows(&emergency, "Consent") && !shows(&emergency, "AuditEvent"));
        let gp = principal(Role::Huisarts, None);
        assert!(shows(&gp, "Condition") && !shows(&gp, "AuditEvent"));
        assert_eq!(access(&gp).visible("Practitioner"), None);
    }

    #[test]
    fn emergency_access_skips_the_patients_who_object() {
        let who = principal(Role::Ambulance, Some("reanimatie"));
        let Some(Condition::Any(list)) = access(&who).visible("Consent") else {
            panic!("a condition")
        };
        assert!(list.contains(&Condition::Compartment {
            params: vec!["patient".into()],
            patients: Patients::NotObjecting,
        }));
    }

    #[test]
    fn patients_of_a_resource() {
        let obs = serde_json::json!({"resourceType": "Observation",
            "subject": {"reference": "http://x/fhir/Patient/p1/_history/2"}});
        assert_eq!(patients_of(&obs), ["p1"]);
        let audit = serde_json::json!({"resourceType": "AuditEvent",
            "entity": [{"what": {"reference": "Patient/a"}}, {"what": {"reference": "Consent/c"}},
                       {"what": {"reference": "Patient/b"}}]});
        assert_eq!(patients_of(&audit), ["a", "b"]);
        let group =
            serde_json::json!({"resourceType": "Observation", "subject": {"reference": "Group/g"}});
        assert!(patients_of(&group).is_empty());
    }
}
