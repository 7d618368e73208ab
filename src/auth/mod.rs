//! Who is asking, and what they may see and do.
//!
//! A request's bearer token ([`token`]) becomes a [`Principal`]: the person (UZI), the
//! organisation (URA), the role in palliative care, for a patient their BSN, the SMART scopes,
//! and for the acute chain the emergency reason. [`policy`] decides from it, per request, which
//! patients' data and which resource types are open.

pub mod policy;
pub mod scope;
pub mod token;

use crate::error::{ErrorKind, FhirError};
pub use policy::Access;
pub use scope::Scopes;

/// Naming systems of the Dutch identifiers in tokens and resources.
pub const UZI: &str = "http://fhir.nl/fhir/NamingSystem/uzi-nr-pers";
pub const URA: &str = "http://fhir.nl/fhir/NamingSystem/ura";
pub const BSN: &str = "http://fhir.nl/fhir/NamingSystem/bsn";

/// The role a token claims in `pzp_role`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Huisarts,
    MedischSpecialist,
    Verpleegkundige,
    Wijkverpleegkundige,
    PzVerpleegkundige,
    Apotheker,
    Ambulance,
    Huisartsenpost,
    Seh,
    Hospice,
    SociaalWerker,
    Vrijwilliger,
    Patient,
    System,
}

impl Role {
    pub const ALL: [Role; 14] = [
        Role::Huisarts,
        Role::MedischSpecialist,
        Role::Verpleegkundige,
        Role::Wijkverpleegkundige,
        Role::PzVerpleegkundige,
        Role::Apotheker,
        Role::Ambulance,
        Role::Huisartsenpost,
        Role::Seh,
        Role::Hospice,
        Role::SociaalWerker,
        Role::Vrijwilliger,
        Role::Patient,
        Role::System,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Huisarts => "huisarts",
            Role::MedischSpecialist => "medisch-specialist",
            Role::Verpleegkundige => "verpleegkundige",
            Role::Wijkverpleegkundige => "wijkverpleegkundige",
            Role::PzVerpleegkundige => "pz-verpleegkundige",
            Role::Apotheker => "apotheker",
            Role::Ambulance => "ambulance",
            Role::Huisartsenpost => "huisartsenpost",
            Role::Seh => "seh",
            Role::Hospice => "hospice",
            Role::SociaalWerker => "sociaal-werker",
            Role::Vrijwilliger => "vrijwilliger",
            Role::Patient => "patient",
            Role::System => "system",
        }
    }

    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The acute chain: may read a plan in an emergency without a care relationship.
    pub fn is_acute(self) -> bool {
        matches!(self, Role::Ambulance | Role::Huisartsenpost | Role::Seh)
    }
}

/// The one asking, as established from a verified token.
#[derive(Clone, Debug)]
pub struct Principal {
    pub role: Role,
    /// The person's UZI number (absent for a system).
    pub uzi: Option<String>,
    pub name: Option<String>,
    /// The organisation's URA number (absent for a patient).
    pub ura: Option<String>,
    pub organization_name: Option<String>,
    /// A patient's own BSN.
    pub bsn: Option<String>,
    pub scopes: Scopes,
    /// Purpose of use `ETREAT` with its reason: emergency access by the acute chain.
    pub emergency: Option<String>,
    /// Where the request came from (for the audit trail).
    pub address: Option<String>,
    /// The consent rule in force for this request (the server's `PZP_CONSENT_MODE`).
    pub consent: policy::ConsentMode,
}

impl Principal {
    /// The principal of verified claims; a token that does not say who is asking in the way
    /// its role needs is refused.
    pub fn from_claims(c: token::Claims) -> Result<Principal, FhirError> {
        let unauthorized = |text: String| FhirError::new(ErrorKind::Unauthorized, "login", text);
        let role_code = c.pzp_role.as_deref().unwrap_or_default();
        let role = Role::from_code(role_code).ok_or_else(|| {
            unauthorized(format!(
                "the token's pzp_role '{role_code}' is not one of: {}",
                Role::ALL.map(Role::code).join(", ")
            ))
        })?;
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        match role {
            Role::Patient if !present(&c.bsn) => {
                return Err(unauthorized("a patient's token must carry their BSN (bsn)".into()))
            }
            Role::System if !present(&c.ura) => {
                return Err(unauthorized(
                    "a system token must carry its organisation's URA (ura)".into(),
                ))
            }
            Role::Patient | Role::System => {}
            _ if !present(&c.uzi) || !present(&c.ura) => {
                return Err(unauthorized(
                    "a professional's token must carry their UZI number (uzi) and their organisation's URA (ura)".into(),
                ))
            }
            _ => {}
        }
        let emergency = match c.purpose_of_use.as_deref() {
            Some("ETREAT") => Some(c.reason.clone().unwrap_or_default()),
            _ => None,
        };
        Ok(Principal {
            role,
            uzi: c.uzi,
            name: c.name,
            ura: c.ura,
            organization_name: c.org_name,
            bsn: c.bsn,
            scopes: Scopes::parse(c.scope.as_deref().unwrap_or_default()),
            emergency,
            address: None,
            consent: policy::ConsentMode::default(),
        })
    }
}
