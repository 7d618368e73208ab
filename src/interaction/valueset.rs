//! ValueSet expansion for the `:in` and `:not-in` search modifiers, over the ValueSets this
//! server holds.

use serde_json::Value;

use super::search::invalid;
use crate::error::FhirError;
use crate::store::{TokenMatch, Tx};
use crate::validation::valueset::{select, Code, Unexpandable};

/// The codes a ValueSet selects, and the codes it excludes from those.
pub(crate) type Codes = (Vec<TokenMatch>, Vec<TokenMatch>);

/// The codes of the stored ValueSet `canonical` (`url` or `url|version`) and the codes it
/// excludes. `name` is the search parameter, for error messages.
pub(crate) fn codes(tx: &mut Tx, name: &str, canonical: &str) -> Result<Codes, FhirError> {
    let mut resolve = |url: &str| -> Result<Option<Value>, FhirError> {
        super::by_canonical(tx, "ValueSet", url)?
            .map(|v| {
                serde_json::from_str(v.content.as_deref().unwrap_or("{}"))
                    .map_err(|e| FhirError::internal(format!("stored ValueSet is unreadable: {e}")))
            })
            .transpose()
    };
    let selection = select(canonical, &mut resolve).map_err(|e| match e {
        Unexpandable::Failed(e) => e,
        Unexpandable::Filter(_) => {
            FhirError::bad_request("not-supported", e.describe()).at(name.to_string())
        }
        _ => invalid(name, e.describe()),
    })?;
    let matches = |codes: Vec<Code>| {
        codes
            .into_iter()
            .map(|(system, code)| TokenMatch {
                system: Some(system),
                code,
            })
            .collect()
    };
    Ok((matches(selection.include), matches(selection.exclude)))
}
