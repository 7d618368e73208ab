//! The PZP summary: the current state of one patient's plan, in the order an ambulance crew
//! reads it. Treatment limits first (for each treatment the current directive, earlier
//! agreements that say the same, or a conflict when active directives disagree: never
//! resolved here), then the markering, advance directives, wishes, goal, ICD, legal capacity
//! and representative, contact persons, centrale zorgverlener and hoofdbehandelaar, and the
//! last MDO conclusion; each line with who recorded it and when.
//!
//! [`compose`] works on resources already read under the caller's access; it is pure, so the
//! same model renders as a FHIR document ([`Summary::document`]) and as the printable plan
//! (`html`).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{CARE_TEAM_ROLE, CENTRAL, SNOMED};

/// What the summary is made of: the patient, their resources by type, the resources their care
/// team and devices refer to (by `Type/id`), and who last wrote each resource.
#[derive(Default)]
pub struct Sources {
    pub patient: Value,
    pub by_type: HashMap<String, Vec<Value>>,
    pub referenced: HashMap<String, Value>,
    pub recorded: HashMap<String, Recorded>,
}

/// Who recorded a resource, and when.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recorded {
    pub by: Option<String>,
    pub at: Option<String>,
}

/// One line of the plan, and the resource it comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub text: String,
    pub reference: String,
    pub recorded: Recorded,
}

/// A treatment directive's decision: permit, deny, or the free text of SpecificationOther.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Permit,
    Deny,
    Other(String),
    /// Neither a decision nor a text (should not happen in valid data).
    Unstated,
}

impl Decision {
    /// How the printed plan says it, e.g. "Reanimeren: NIET".
    pub fn dutch(&self) -> String {
        match self {
            Decision::Permit => "JA".into(),
            Decision::Deny => "NIET".into(),
            Decision::Other(text) => format!("anders: {text}"),
            Decision::Unstated => "geen besluit vastgelegd".into(),
        }
    }
}

/// The state of one treatment: the current directive, or a conflict between active ones.
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    pub treatment: String,
    /// The current directive; `None` when active directives disagree.
    pub current: Option<(Decision, Line)>,
    /// Active directives that disagree, newest first (empty unless in conflict).
    pub conflict: Vec<(Decision, Line)>,
    /// Earlier active directives with the same decision as the current one.
    pub earlier: Vec<Line>,
}

/// A section of the plan after the treatment limits.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub title: &'static str,
    pub lines: Vec<Line>,
}

pub struct Summary {
    pub patient: Value,
    pub patient_name: String,
    pub limits: Vec<Limit>,
    pub sections: Vec<Section>,
    /// Every resource the summary shows, for the document Bundle.
    pub resources: Vec<Value>,
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn reference(v: &Value) -> String {
    format!(
        "{}/{}",
        text(v, "/resourceType").unwrap_or_default(),
        text(v, "/id").unwrap_or_default()
    )
}

/// The `Type/id` a reference names, as [`Sources::referenced`] is keyed.
fn key(reference: &str) -> String {
    crate::search::type_and_id(reference)
        .map(|(t, id)| format!("{t}/{id}"))
        .unwrap_or_default()
}

fn codings(concept: Option<&Value>) -> Vec<&Value> {
    concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn has_code(concept: Option<&Value>, system: &str, code: &str) -> bool {
    codings(concept)
        .iter()
        .any(|c| text(c, "/system") == Some(system) && text(c, "/code") == Some(code))
}

/// The words of a CodeableConcept: its text, else its first display, else its first code.
fn words(concept: Option<&Value>) -> Option<String> {
    let c = concept?;
    text(c, "/text")
        .or_else(|| codings(Some(c)).iter().find_map(|x| text(x, "/display")))
        .or_else(|| codings(Some(c)).iter().find_map(|x| text(x, "/code")))
        .map(str::to_string)
}

/// A person's or organisation's name as one line.
pub fn name_of(v: &Value) -> Option<String> {
    if let Some(n) = v.get("name").and_then(Value::as_str) {
        return Some(n.to_string());
    }
    let name = v.get("name")?.as_array()?.first()?;
    if let Some(t) = text(name, "/text") {
        return Some(t.to_string());
    }
    let given: Vec<&str> = name
        .get("given")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let family = text(name, "/family").unwrap_or_default();
    let full = format!("{} {family}", given.join(" "));
    let full = full.trim();
    (!full.is_empty()).then(|| full.to_string())
}

fn phones(v: &Value) -> Vec<String> {
    v.get("telecom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| text(t, "/system") == Some("phone"))
        .filter_map(|t| text(t, "/value").map(str::to_string))
        .collect()
}

/// When a resource says it holds: its own date, else when it was stored.
fn date_of(v: &Value) -> String {
    [
        "/dateTime",
        "/effectiveDateTime",
        "/effectivePeriod/start",
        "/statusDate",
        "/startDate",
        "/period/start",
        "/created",
        "/timingDateTime",
        "/recordedOn",
        "/meta/lastUpdated",
    ]
    .iter()
    .find_map(|p| text(v, p))
    .unwrap_or_default()
    .to_string()
}

/// Dutch names of the treatments the IKNL guide codes.
fn treatment_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "89666000" => "Reanimeren",
        "305351004" => "Opname IC",
        "32485007" => "Ziekenhuisopname",
        "40617009" => "Beademing",
        "281789004" => "Antibiotica",
        "116762002" => "Bloedtransfusie",
        _ => return None,
    })
}

const SPECIFICATION_OTHER: &str =
    "http://nictiz.nl/fhir/StructureDefinition/ext-TreatmentDirective2.SpecificationOther";

fn decision(consent: &Value) -> Decision {
    let other = consent
        .get("modifierExtension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| text(e, "/url") == Some(SPECIFICATION_OTHER))
        .and_then(|e| {
            e.get("valueString")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| words(e.get("valueCodeableConcept")))
        });
    match (text(consent, "/provision/type"), other) {
        (_, Some(t)) => Decision::Other(t),
        (Some("permit"), None) => Decision::Permit,
        (Some("deny"), None) => Decision::Deny,
        _ => Decision::Unstated,
    }
}

fn is_treatment_directive(c: &Value) -> bool {
    c.get("category")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|cat| has_code(Some(cat), SNOMED, "129125009"))
}

fn is_advance_directive(c: &Value) -> bool {
    c.get("category")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|cat| {
            has_code(
                Some(cat),
                "http://terminology.hl7.org/CodeSystem/consentcategorycodes",
                "acd",
            )
        })
}

/// The treatment a directive is about, as (grouping key, Dutch label): a coded treatment by
/// its code; `OTH` (outside the code list) by its text, which carries the real treatment.
fn treatment(c: &Value) -> (String, String) {
    let concept = c.pointer("/provision/code/0");
    let coded = codings(concept)
        .into_iter()
        .find(|x| text(x, "/code").is_some_and(|code| code != "OTH"));
    match coded {
        Some(x) => {
            let code = text(x, "/code").unwrap_or_default();
            let label = treatment_name(code)
                .map(str::to_string)
                .or_else(|| text(x, "/display").map(str::to_string))
                .unwrap_or_else(|| code.to_string());
            (
                format!("{}|{code}", text(x, "/system").unwrap_or_default()),
                label,
            )
        }
        None => {
            let label = words(concept).unwrap_or_else(|| "Overige behandeling".into());
            (format!("text|{label}"), label)
        }
    }
}

/// The treatment limits: per treatment, what the active directives say.
fn limits(consents: &[&Value], line: &dyn Fn(&Value, String) -> Line) -> Vec<Limit> {
    let mut groups: Vec<(String, String, Vec<&Value>)> = Vec::new();
    for c in consents
        .iter()
        .copied()
        .filter(|c| is_treatment_directive(c))
    {
        // Inactive, rejected, proposed and entered-in-error directives are never the plan.
        if text(c, "/status") != Some("active") {
            continue;
        }
        let (key, label) = treatment(c);
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some(g) => g.2.push(c),
            None => groups.push((key, label, vec![c])),
        }
    }
    // The questions of an acute situation first.
    let rank = |key: &str| {
        [
            "89666000",
            "305351004",
            "32485007",
            "40617009",
            "281789004",
            "116762002",
        ]
        .iter()
        .position(|c| key.ends_with(&format!("|{c}")))
        .unwrap_or(usize::MAX)
    };
    groups.sort_by_key(|(key, _, _)| rank(key));
    groups
        .into_iter()
        .map(|(_, label, mut active)| {
            active.sort_by_key(|c| std::cmp::Reverse(date_of(c)));
            let decided: Vec<(Decision, Line)> = active
                .iter()
                .map(|c| {
                    let d = decision(c);
                    let l = line(c, format!("{label}: {}", d.dutch()));
                    (d, l)
                })
                .collect();
            let agree = decided.iter().all(|(d, _)| *d == decided[0].0);
            if agree {
                let mut all = decided.into_iter();
                let current = all.next();
                Limit {
                    treatment: label,
                    current,
                    conflict: Vec::new(),
                    earlier: all.map(|(_, l)| l).collect(),
                }
            } else {
                Limit {
                    treatment: label,
                    current: None,
                    conflict: decided,
                    earlier: Vec::new(),
                }
            }
        })
        .collect()
}

/// Observation codes of the wishes, with their Dutch labels.
const WISHES: &[(&str, &str)] = &[
    ("340171000146104", "Standpunt euthanasie"),
    ("395091006", "Voorkeursplek van overlijden"),
    ("570801000146104", "Orgaandonatie"),
    ("153851000146100", "Specifieke zorgwensen"),
    ("247751003", "Zingeving"),
];
const LEGALLY_CAPABLE: &str = "665671000146101";
const LEGAL_REPRESENTATIVE: &str = "24";
const ROLE_CODES: &str = "urn:oid:2.16.840.1.113883.2.4.3.11.22.472";

fn observation_value(o: &Value) -> String {
    if let Some(b) = o.get("valueBoolean").and_then(Value::as_bool) {
        return if b { "ja".into() } else { "nee".into() };
    }
    o.get("valueString")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| words(o.get("valueCodeableConcept")))
        .or_else(|| words(o.get("dataAbsentReason")).map(|w| format!("onbekend ({w})")))
        .unwrap_or_else(|| "-".into())
}

/// The newest of several resources (by their own date).
fn newest<'a>(list: impl Iterator<Item = &'a Value>) -> Option<&'a Value> {
    list.max_by_key(|v| date_of(v))
}

/// Builds the summary from what the caller may see.
pub fn compose(sources: &Sources) -> Summary {
    let empty = Vec::new();
    let of = |t: &str| sources.by_type.get(t).unwrap_or(&empty);
    // When: the date the resource gives itself (the conversation, the decision), else when it
    // was stored; by whom: who stored it.
    let line = |v: &Value, text: String| {
        let stored = sources
            .recorded
            .get(&reference(v))
            .cloned()
            .unwrap_or_default();
        let own = Some(date_of(v)).filter(|d| !d.is_empty());
        Line {
            text,
            reference: reference(v),
            recorded: Recorded {
                by: stored.by,
                at: own.or(stored.at).map(|d| d.chars().take(10).collect()),
            },
        }
    };
    let mut shown: Vec<Value> = vec![sources.patient.clone()];
    let mut show = |v: &Value| {
        if !shown.iter().any(|s| reference(s) == reference(v)) {
            shown.push(v.clone());
        }
    };

    let consents: Vec<&Value> = of("Consent").iter().collect();
    let limits = limits(&consents, &line);
    for c in consents.iter().filter(|c| is_treatment_directive(c)) {
        if text(c, "/status") == Some("active") {
            show(c);
        }
    }
    let mut sections = Vec::new();

    // Markering: the active palliative-care episode, its phase and date.
    let markering = newest(of("EpisodeOfCare").iter().filter(|e| {
        text(e, "/status") == Some("active")
            && e.get("type")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|t| has_code(Some(t), SNOMED, "103735009"))
    }));
    let mut lines = Vec::new();
    if let Some(e) = markering {
        let phase = e
            .get("extension")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|x| {
                text(x, "/url")
                    == Some("https://pzp-fhir.nl/fhir/StructureDefinition/palliative-phase")
            })
            .and_then(|x| text(x, "/valueCoding/display").or_else(|| text(x, "/valueCoding/code")))
            .unwrap_or("palliatieve fase");
        let since = text(e, "/period/start").unwrap_or("onbekend");
        lines.push(line(e, format!("{phase}, gemarkeerd op {since}")));
        show(e);
    }
    sections.push(Section {
        title: "Markering palliatieve fase",
        lines,
    });

    // Advance directives (wilsverklaringen), with whether the document is held.
    let mut lines = Vec::new();
    for c in consents.iter().filter(|c| is_advance_directive(c)) {
        if text(c, "/status") != Some("active") {
            continue;
        }
        let kind = words(c.pointer("/provision/code/0"))
            .map(|w| match w.as_str() {
                "NR" => "Niet-reanimerenverklaring".to_string(),
                _ => w,
            })
            .unwrap_or_else(|| "Wilsverklaring".into());
        let document = if c.get("sourceAttachment").is_some() {
            " (document aanwezig)"
        } else {
            ""
        };
        lines.push(line(c, format!("{kind}, {}{document}", date_of(c))));
        show(c);
    }
    sections.push(Section {
        title: "Wilsverklaringen",
        lines,
    });

    // Wishes: the newest observation of each kind.
    let observations = of("Observation");
    let mut lines = Vec::new();
    for (code, label) in WISHES {
        let found = newest(
            observations
                .iter()
                .filter(|o| has_code(o.get("code"), SNOMED, code))
                .filter(|o| !matches!(text(o, "/status"), Some("entered-in-error" | "cancelled"))),
        );
        if let Some(o) = found {
            lines.push(line(o, format!("{label}: {}", observation_value(o))));
            show(o);
        }
    }
    sections.push(Section {
        title: "Wensen",
        lines,
    });

    // The medical policy goal.
    let mut lines = Vec::new();
    if let Some(g) = newest(of("Goal").iter().filter(|g| {
        matches!(
            text(g, "/lifecycleStatus"),
            Some("active" | "accepted" | "planned" | "proposed")
        )
    })) {
        let goal = words(g.get("description")).unwrap_or_else(|| "-".into());
        lines.push(line(g, format!("Behandeldoel: {goal}")));
        show(g);
    }
    sections.push(Section {
        title: "Behandeldoel",
        lines,
    });

    // ICD: present or not (the wish about deactivation is a treatment limit above).
    let mut lines = Vec::new();
    for d in of("DeviceUseStatement").iter().filter(|d| {
        matches!(
            text(d, "/status"),
            Some("active" | "intended" | "completed") | None
        )
    }) {
        let device = text(d, "/device/reference").and_then(|r| sources.referenced.get(&key(r)));
        let what = device
            .and_then(|dev| words(dev.get("type")))
            .or_else(|| text(d, "/device/display").map(str::to_string))
            .unwrap_or_else(|| "medisch hulpmiddel".into());
        lines.push(line(d, format!("ICD/hulpmiddel aanwezig: {what}")));
        show(d);
        if let Some(dev) = device {
            show(dev);
        }
    }
    sections.push(Section {
        title: "ICD",
        lines,
    });

    // Legal capacity, the legal representative, and the other contact persons.
    let mut lines = Vec::new();
    if let Some(o) = newest(
        observations
            .iter()
            .filter(|o| has_code(o.get("code"), SNOMED, LEGALLY_CAPABLE)),
    ) {
        lines.push(line(
            o,
            format!(
                "Wilsbekwaam ten aanzien van medische beslissingen: {}",
                observation_value(o)
            ),
        ));
        show(o);
    }
    let people = of("RelatedPerson");
    let describe = |p: &Value| {
        let name = name_of(p).unwrap_or_else(|| "onbekend".into());
        let roles: Vec<String> = p
            .get("relationship")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| words(Some(r)))
            .collect();
        let phone = phones(p);
        let mut s = name;
        if !roles.is_empty() {
            s.push_str(&format!(" ({})", roles.join(", ")));
        }
        if !phone.is_empty() {
            s.push_str(&format!(", tel. {}", phone.join(" / ")));
        }
        s
    };
    for p in people.iter().filter(|p| {
        p.get("relationship")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|r| has_code(Some(r), ROLE_CODES, LEGAL_REPRESENTATIVE))
    }) {
        lines.push(line(
            p,
            format!("Wettelijk vertegenwoordiger: {}", describe(p)),
        ));
        show(p);
    }
    sections.push(Section {
        title: "Wilsbekwaamheid en vertegenwoordiging",
        lines,
    });
    let mut lines = Vec::new();
    for p in people
        .iter()
        .filter(|p| p.get("active").and_then(Value::as_bool) != Some(false))
    {
        lines.push(line(p, describe(p)));
        show(p);
    }
    sections.push(Section {
        title: "Contactpersonen",
        lines,
    });

    // Centrale zorgverlener and hoofdbehandelaar: the participants whose period covers now.
    let now = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let mut lines = Vec::new();
    for team in of("CareTeam") {
        if matches!(text(team, "/status"), Some("inactive" | "entered-in-error")) {
            continue;
        }
        let mut used = false;
        for p in team
            .get("participant")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let current = text(p, "/period/start").is_none_or(|s| s[..s.len().min(10)] <= *now)
                && text(p, "/period/end").is_none_or(|e| e[..e.len().min(10)] >= *now);
            let role = ["hoofdbehandelaar", CENTRAL].into_iter().find(|r| {
                p.get("role")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|c| has_code(Some(c), CARE_TEAM_ROLE, r))
            });
            let (Some(role), true) = (role, current) else {
                continue;
            };
            let member_ref = text(p, "/member/reference").unwrap_or_default();
            let member = sources.referenced.get(&key(member_ref));
            let practitioner = member
                .and_then(|m| text(m, "/practitioner/reference"))
                .and_then(|r| sources.referenced.get(&key(r)));
            let organization = member
                .and_then(|m| text(m, "/organization/reference"))
                .and_then(|r| sources.referenced.get(&key(r)));
            let who = practitioner
                .and_then(name_of)
                .or_else(|| member.and_then(name_of))
                .or_else(|| text(p, "/member/display").map(str::to_string))
                .unwrap_or_else(|| member_ref.to_string());
            let mut phone: Vec<String> = member.map(phones).unwrap_or_default();
            phone.extend(practitioner.map(phones).unwrap_or_default());
            phone.extend(organization.map(phones).unwrap_or_default());
            phone.dedup();
            let label = if role == CENTRAL {
                "Centrale zorgverlener"
            } else {
                "Hoofdbehandelaar"
            };
            let mut s = format!("{label}: {who}");
            if let Some(org) = organization.and_then(name_of) {
                s.push_str(&format!(", {org}"));
            }
            if let Some(since) = text(p, "/period/start") {
                s.push_str(&format!(", sinds {since}"));
            }
            if !phone.is_empty() {
                s.push_str(&format!(", tel. {}", phone.join(" / ")));
            }
            lines.push(line(team, s));
            used = true;
            for r in [member, practitioner, organization].into_iter().flatten() {
                show(r);
            }
        }
        if used {
            show(team);
        }
    }
    sections.push(Section {
        title: "Centrale zorgverlener en hoofdbehandelaar",
        lines,
    });

    // The last MDO conclusion.
    let mut lines = Vec::new();
    let conclusions = of("CarePlan").iter().filter(|c| {
        c.get("encounter").is_some()
            && !matches!(text(c, "/status"), Some("entered-in-error" | "revoked"))
            && (c
                .pointer("/meta/profile")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|p| {
                    p.as_str()
                        .is_some_and(|p| p.ends_with("/pzp-mdo-conclusion"))
                })
                || text(c, "/encounter/reference")
                    .and_then(|r| sources.referenced.get(&key(r)))
                    .is_some_and(|e| {
                        e.get("type")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .any(|t| has_code(Some(t), SNOMED, "384682003"))
                    }))
    });
    if let Some(c) = newest(conclusions) {
        let what = text(c, "/description").unwrap_or("-");
        lines.push(line(c, format!("MDO {}: {what}", date_of(c))));
        show(c);
    }
    sections.push(Section {
        title: "Laatste MDO-conclusie",
        lines,
    });

    Summary {
        patient_name: name_of(&sources.patient).unwrap_or_else(|| "onbekend".into()),
        patient: sources.patient.clone(),
        limits,
        sections,
        resources: shown,
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn recorded_text(r: &Recorded) -> String {
    match (&r.by, &r.at) {
        (Some(by), Some(at)) => format!("vastgelegd door {by} op {at}"),
        (None, Some(at)) => format!("vastgelegd op {at}"),
        (Some(by), None) => format!("vastgelegd door {by}"),
        (None, None) => String::new(),
    }
}

impl Summary {
    /// The limit lines as they are printed: the current decision, or every side of a conflict.
    pub fn limit_lines(&self) -> Vec<(String, bool, &Line)> {
        let mut out = Vec::new();
        for l in &self.limits {
            match &l.current {
                Some((_, line)) => out.push((line.text.clone(), false, line)),
                None => {
                    for (_, line) in &l.conflict {
                        out.push((format!("TEGENSTRIJDIG: {}", line.text), true, line));
                    }
                }
            }
        }
        out
    }

    /// The summary as a FHIR `document` Bundle: a Composition with one section per part (the
    /// treatment limits first), then every resource it shows.
    pub fn document(&self, base_url: &str, now: &str) -> Value {
        let patient_ref = reference(&self.patient);
        let narrative = |lines: &[String]| {
            let items: String = lines
                .iter()
                .map(|l| format!("<li>{}</li>", escape(l)))
                .collect();
            json!({"status": "generated",
                   "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\"><ul>{items}</ul></div>")})
        };
        let section = |title: &str, lines: Vec<(String, &Line)>| {
            let mut s = json!({"title": title});
            let texts: Vec<String> = lines
                .iter()
                .map(|(t, l)| {
                    let r = recorded_text(&l.recorded);
                    if r.is_empty() {
                        t.clone()
                    } else {
                        format!("{t} ({r})")
                    }
                })
                .collect();
            if texts.is_empty() {
                s["text"] = narrative(&["Niets vastgelegd".to_string()]);
                s["emptyReason"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason", "code": "unavailable"}]});
            } else {
                s["text"] = narrative(&texts);
                let mut refs: Vec<String> =
                    lines.iter().map(|(_, l)| l.reference.clone()).collect();
                refs.dedup();
                s["entry"] = json!(refs
                    .iter()
                    .map(|r| json!({"reference": r}))
                    .collect::<Vec<_>>());
            }
            s
        };
        let mut sections = vec![section(
            "Behandelgrenzen",
            self.limit_lines()
                .into_iter()
                .map(|(t, _, l)| (t, l))
                .chain(self.limits.iter().flat_map(|l| {
                    l.earlier
                        .iter()
                        .map(|e| (format!("eerdere afspraak: {}", e.text), e))
                }))
                .collect(),
        )];
        for s in &self.sections {
            sections.push(section(
                s.title,
                s.lines.iter().map(|l| (l.text.clone(), l)).collect(),
            ));
        }
        let composition_id = uuid::Uuid::new_v4().to_string();
        let composition = json!({
            "resourceType": "Composition",
            "id": composition_id,
            "status": "final",
            "type": {"coding": [{"system": SNOMED, "code": "713603004", "display": "advance care planning"}],
                     "text": "PZP-samenvatting"},
            "subject": {"reference": patient_ref, "display": self.patient_name},
            "date": now,
            "author": [{"display": "pzp-fhir"}],
            "title": format!("Proactieve zorgplanning van {}", self.patient_name),
            "section": sections,
        });
        let mut entries = vec![json!({
            "fullUrl": format!("{base_url}/Composition/{composition_id}"),
            "resource": composition,
        })];
        entries.extend(
            self.resources
                .iter()
                .map(|r| json!({"fullUrl": format!("{base_url}/{}", reference(r)), "resource": r})),
        );
        json!({
            "resourceType": "Bundle",
            "id": uuid::Uuid::new_v4().to_string(),
            "identifier": {"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{}", uuid::Uuid::new_v4())},
            "type": "document",
            "timestamp": now,
            "entry": entries,
        })
    }

    /// The printable one-page plan (Dutch, self-contained, print CSS).
    pub fn html(&self, now: &str) -> String {
        let mut body = String::new();
        let recorded = |l: &Line| {
            let r = recorded_text(&l.recorded);
            if r.is_empty() {
                String::new()
            } else {
                format!(" <span class=\"by\">{}</span>", escape(&r))
            }
        };
        body.push_str(
            "<section aria-labelledby=\"grenzen\"><h2 id=\"grenzen\">Behandelgrenzen</h2>",
        );
        let limits = self.limit_lines();
        if limits.is_empty() {
            body.push_str("<p>Geen behandelgrenzen vastgelegd.</p>");
        } else {
            body.push_str("<ul class=\"limits\">");
            for (text, conflict, line) in limits {
                let class = if conflict { " class=\"conflict\"" } else { "" };
                body.push_str(&format!(
                    "<li{class}><strong>{}</strong>{}</li>",
                    escape(&text),
                    recorded(line)
                ));
            }
            body.push_str("</ul>");
        }
        for l in &self.limits {
            for e in &l.earlier {
                body.push_str(&format!(
                    "<p class=\"earlier\">Eerdere afspraak: {}{}</p>",
                    escape(&e.text),
                    recorded(e)
                ));
            }
        }
        body.push_str("</section>");
        for (n, s) in self.sections.iter().enumerate() {
            body.push_str(&format!(
                "<section aria-labelledby=\"s{n}\"><h2 id=\"s{n}\">{}</h2>",
                escape(s.title)
            ));
            if s.lines.is_empty() {
                body.push_str("<p class=\"none\">Niets vastgelegd.</p>");
            } else {
                body.push_str("<ul>");
                for l in &s.lines {
                    body.push_str(&format!("<li>{}{}</li>", escape(&l.text), recorded(l)));
                }
                body.push_str("</ul>");
            }
            body.push_str("</section>");
        }
        let bsn = self
            .patient
            .get("identifier")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|i| text(i, "/system") == Some(crate::auth::BSN))
            .and_then(|i| text(i, "/value"))
            .map(|b| format!(", BSN {b}"))
            .unwrap_or_default();
        let birth = text(&self.patient, "/birthDate")
            .map(|b| format!(", geboren {b}"))
            .unwrap_or_default();
        format!(
            "<!DOCTYPE html>\n<html lang=\"nl\"><head><meta charset=\"utf-8\"><title>Proactieve zorgplanning: {name}</title><style>{CSS}</style></head><body><main><header><h1>Proactieve zorgplanning</h1><p class=\"who\">{name}{bsn}{birth}</p><p class=\"when\">Stand van zaken op {now}</p></header>{body}</main></body></html>\n",
            name = escape(&self.patient_name),
            bsn = escape(&bsn),
            birth = escape(&birth),
            now = escape(now),
        )
    }
}

const CSS: &str = "body{font-family:sans-serif;margin:1.5em;color:#000}h1{font-size:1.6em;margin:0}\
h2{font-size:1.15em;border-bottom:1px solid #000;margin:1em 0 .3em}ul{margin:.2em 0;padding-left:1.2em}\
.limits{list-style:none;padding:0}.limits li{font-size:1.4em;margin:.2em 0}\
.conflict{border:3px solid #000;padding:.2em}.by{font-size:.7em;color:#333}\
.who{font-size:1.2em;font-weight:bold;margin:.3em 0}.earlier,.none,.when{color:#333}\
@media print{body{margin:0}section{break-inside:avoid}@page{size:A4;margin:12mm}}";

#[cfg(test)]
mod tests {
    use super::*;

    fn directive(
        id: &str,
        code: &str,
        status: &str,
        date: &str,
        kind: Option<&str>,
        other: Option<&str>,
    ) -> Value {
        let mut c = json!({"resourceType": "Consent", "id": id, "status": status, "dateTime": date,
            "category": [{"coding": [{"system": SNOMED, "code": "129125009"}]}],
            "provision": {"code": [{"coding": [{"system": SNOMED, "code": code}]}]}});
        if let Some(k) = kind {
            c["provision"]["type"] = json!(k);
        }
        if let Some(t) = other {
            c["modifierExtension"] = json!([{"url": SPECIFICATION_OTHER, "valueString": t}]);
        }
        c
    }

    fn summary(consents: Vec<Value>) -> Summary {
        let mut s = Sources {
            patient: json!({"resourceType": "Patient", "id": "p", "name": [{"family": "Sluijs", "given": ["Samira"]}]}),
            ..Sources::default()
        };
        s.by_type.insert("Consent".into(), consents);
        compose(&s)
    }

    #[test]
    fn the_latest_active_directive_is_current_and_inactive_ones_never_are() {
        let s = summary(vec![
            directive(
                "old",
                "40617009",
                "inactive",
                "2024-07-28",
                None,
                Some("Onbekend"),
            ),
            directive(
                "new",
                "40617009",
                "active",
                "2025-08-07",
                Some("deny"),
                None,
            ),
            directive(
                "icu1",
                "305351004",
                "active",
                "2020-10-01",
                Some("permit"),
                None,
            ),
            directive(
                "icu2",
                "305351004",
                "active",
                "2022-11-08",
                Some("permit"),
                None,
            ),
        ]);
        let lines: Vec<String> = s.limit_lines().into_iter().map(|(t, _, _)| t).collect();
        assert!(lines.contains(&"Beademing: NIET".to_string()), "{lines:?}");
        assert!(lines.contains(&"Opname IC: JA".to_string()));
        assert_eq!(lines.len(), 2);
        let icu = s
            .limits
            .iter()
            .find(|l| l.treatment == "Opname IC")
            .unwrap();
        assert_eq!(icu.current.as_ref().unwrap().1.reference, "Consent/icu2");
        assert_eq!(icu.earlier[0].reference, "Consent/icu1");
        assert!(!s.resources.iter().any(|r| r["id"] == "old"));
    }

    #[test]
    fn disagreeing_active_directives_are_a_conflict_and_other_texts_stay_verbatim() {
        let text = "Alleen als de patiënt een kans heeft om weer uit het ziekenhuis te komen";
        let s = summary(vec![
            directive("a", "89666000", "active", "2025-01-01", Some("deny"), None),
            directive(
                "b",
                "89666000",
                "active",
                "2025-02-01",
                Some("permit"),
                None,
            ),
            directive("h", "32485007", "active", "2025-08-07", None, Some(text)),
        ]);
        let cpr = s
            .limits
            .iter()
            .find(|l| l.treatment == "Reanimeren")
            .unwrap();
        assert!(cpr.current.is_none());
        assert_eq!(cpr.conflict.len(), 2);
        let lines: Vec<(String, bool)> = s
            .limit_lines()
            .into_iter()
            .map(|(t, c, _)| (t, c))
            .collect();
        assert!(
            lines.contains(&("TEGENSTRIJDIG: Reanimeren: JA".into(), true)),
            "{lines:?}"
        );
        assert!(lines.contains(&(format!("Ziekenhuisopname: anders: {text}"), false)));
        let html = s.html("2026-11-24");
        assert!(html.contains("TEGENSTRIJDIG: Reanimeren: NIET") && html.contains(&escape(text)));
    }
}
