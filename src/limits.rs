//! The bounds on one request's work: every request is answered within them, and one that goes
//! past a bound gets a 4xx OperationOutcome (`too-costly` or `too-long`) before the work is
//! done, never a crash, a 500 or runaway memory.
//!
//! The bounds are settings (`PZP_MAX_*`, see [`Limits::from_vars`]); the server sets them once
//! at start-up ([`set`]) and every interaction reads them with [`get`].

use std::sync::OnceLock;

use crate::error::{ErrorKind, FhirError};

/// Bounds on the work of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `PZP_MAX_DEPTH`: nesting of XML elements, or JSON objects (an array of a repeating
    /// element's values is not a level of its own), in a body; at most 60.
    pub depth: usize,
    /// `PZP_MAX_SEARCH_PARAMS`: parameters in one search or conditional query.
    pub search_params: usize,
    /// `PZP_MAX_SEARCH_VALUES`: comma-separated values of one search parameter.
    pub search_values: usize,
    /// `PZP_MAX_INCLUDES`: `_include` and `_revinclude` parameters (`:iterate` ones too).
    pub includes: usize,
    /// `PZP_MAX_HAS_DEPTH`: `_has` parameters nested in one another.
    pub has_depth: usize,
    /// `PZP_MAX_BUNDLE_ENTRIES`: entries in a transaction or batch.
    pub bundle_entries: usize,
    /// `PZP_MAX_PATCH_OPERATIONS`: operations in one JSON Patch document.
    pub patch_operations: usize,
    /// `PZP_MAX_RESOURCE_BYTES`: size of a resource as a patch leaves it (JSON text).
    pub resource_bytes: usize,
    /// `PZP_STATEMENT_TIMEOUT_MS`: how long one PostgreSQL statement may run (0: no limit).
    pub statement_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            // The deepest IKNL and R4 examples nest 12 levels (XML elements; JSON objects);
            // the FHIR library's reading needs about 30 KiB of stack a level, and a request
            // runs on a 2 MiB thread stack.
            depth: 32,
            search_params: 40,
            search_values: 100,
            includes: 10,
            has_depth: 2,
            bundle_entries: 1_000,
            patch_operations: 100,
            resource_bytes: 16 * 1024 * 1024,
            statement_timeout_ms: 30_000,
        }
    }
}

impl Limits {
    /// The limits of the `PZP_MAX_*` variables `var` gives; unset ones keep their default, a
    /// value that is not a positive whole number is an error.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Limits, String> {
        let mut limits = Limits::default();
        let fields: [(&str, &mut usize); 8] = [
            ("PZP_MAX_DEPTH", &mut limits.depth),
            ("PZP_MAX_SEARCH_PARAMS", &mut limits.search_params),
            ("PZP_MAX_SEARCH_VALUES", &mut limits.search_values),
            ("PZP_MAX_INCLUDES", &mut limits.includes),
            ("PZP_MAX_HAS_DEPTH", &mut limits.has_depth),
            ("PZP_MAX_BUNDLE_ENTRIES", &mut limits.bundle_entries),
            ("PZP_MAX_PATCH_OPERATIONS", &mut limits.patch_operations),
            ("PZP_MAX_RESOURCE_BYTES", &mut limits.resource_bytes),
        ];
        for (name, field) in fields {
            if let Some(v) = var(name) {
                *field =
                    v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!("{name} must be a whole number above 0, got '{v}'")
                    })?;
            }
        }
        if limits.depth > MAX_DEPTH {
            return Err(format!(
                "PZP_MAX_DEPTH may be at most {MAX_DEPTH}: deeper input would overflow a request's stack"
            ));
        }
        if let Some(v) = var("PZP_STATEMENT_TIMEOUT_MS") {
            limits.statement_timeout_ms = v.trim().parse().map_err(|_| {
                format!("PZP_STATEMENT_TIMEOUT_MS must be a whole number, got '{v}'")
            })?;
        }
        Ok(limits)
    }

    /// The limits of the parsers in `fhir-format`.
    pub fn format(&self) -> fhir_format::Limits {
        fhir_format::Limits {
            max_depth: self.depth,
        }
    }
}

/// The deepest nesting the parsers can take on a request's 2 MiB stack.
const MAX_DEPTH: usize = 60;

static LIMITS: OnceLock<Limits> = OnceLock::new();

/// Sets the limits for this process; the first call wins (a test process runs several servers
/// with the default limits).
pub fn set(limits: Limits) {
    let _ = LIMITS.set(limits);
}

/// The limits in force.
pub fn get() -> &'static Limits {
    LIMITS.get_or_init(Limits::default)
}

/// The answer to a request past one of the limits: `what` names the bound and `setting` the
/// variable that raises it.
pub fn exceeded(what: String, setting: &str) -> FhirError {
    FhirError::new(
        ErrorKind::BadRequest,
        "too-costly",
        format!("{what}; this server's limit is set by {setting}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_override_the_defaults_and_bad_values_are_refused() {
        let limits = Limits::from_vars(|n| (n == "PZP_MAX_DEPTH").then(|| "20".into())).unwrap();
        assert_eq!(limits.depth, 20);
        assert_eq!(limits.includes, Limits::default().includes);
        let err = Limits::from_vars(|n| (n == "PZP_MAX_INCLUDES").then(|| "0".into()));
        assert!(err.unwrap_err().contains("PZP_MAX_INCLUDES"));
    }
}
