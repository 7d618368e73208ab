//! FHIR search: the search parameters this server knows and the index values they extract.
//!
//! Storage-free: [`registry`] says which parameters exist per resource type, [`fhirpath`]
//! evaluates their expressions over resource JSON, and [`extract`] turns the results into the
//! values the index tables hold.

mod date;
pub mod extract;
pub mod fhirpath;
#[rustfmt::skip]
mod generated;
mod reference;
pub mod registry;
#[cfg(test)]
mod tests;

pub use date::date_range;
pub use extract::{extract, normalize, IndexEntry, IndexValue};
pub use reference::{patient_id, type_and_id};
pub use registry::{param, params, ParamType, SearchParam};
