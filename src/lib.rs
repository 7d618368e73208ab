//! pzp-fhir: a FHIR R4 server that keeps the proactieve zorgplanning (PZP; Dutch advance care
//! planning) record of a person in the palliative phase, so that every care system reads and
//! writes one and the same plan.
//!
//! A request travels `http` (routes, formats, errors) → `interaction` (FHIR REST semantics) →
//! `validation` (profiles of `profiles/`) and `pzp` (rules across resources) → `store`
//! (versions and search index in PostgreSQL or SQLite).

pub mod audit;
pub mod auth;
pub mod capability;
pub mod config;
pub mod error;
pub mod http;
pub mod interaction;
pub mod limits;
pub mod pzp;
pub mod search;
pub mod store;
pub mod validation;

pub use config::Config;
pub use http::Application;
