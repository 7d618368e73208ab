//! Reading what a reference or canonical string points to.

/// The parts of a reference: `Patient/1/_history/2`, `http://x/fhir/Patient/1`,
/// `http://x/Questionnaire/q|1.0` (canonical), `urn:uuid:...` or `#contained`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    pub resource_type: Option<&'a str>,
    pub id: Option<&'a str>,
    /// The `_history` version, or the `|version` of a canonical.
    pub version: Option<&'a str>,
    /// An absolute URL (without its canonical version), a URN or a `#` local reference.
    pub url: Option<&'a str>,
}

pub(crate) fn parse(reference: &str) -> Target<'_> {
    if reference.starts_with('#') {
        return Target {
            url: Some(reference),
            ..Target::default()
        };
    }
    let (address, canonical_version) = match reference.split_once('|') {
        Some((address, version)) => (address, Some(version).filter(|v| !v.is_empty())),
        None => (reference, None),
    };
    if address.starts_with("urn:") {
        return Target {
            url: Some(address),
            version: canonical_version,
            ..Target::default()
        };
    }
    let absolute = address.contains("://");
    let segments: Vec<&str> = address.split('/').collect();
    // Relative references are exactly `Type/id` or `Type/id/_history/v`; absolute ones end so.
    let tail = match segments.as_slice() {
        [ty, id] => Some((*ty, *id, None)),
        [ty, id, "_history", v] => Some((*ty, *id, Some(*v))),
        [.., ty, id, "_history", v] if absolute => Some((*ty, *id, Some(*v))),
        [.., ty, id] if absolute => Some((*ty, *id, None)),
        _ => None,
    };
    let (resource_type, id, history) = match tail {
        Some((ty, id, v)) if is_type(ty) && is_id(id) => (Some(ty), Some(id), v),
        _ => (None, None, None),
    };
    Target {
        resource_type,
        id,
        version: canonical_version.or(history),
        url: absolute.then_some(address),
    }
}

/// The type and id a literal reference names (relative, absolute, or with `_history`).
pub fn type_and_id(reference: &str) -> Option<(&str, &str)> {
    let t = parse(reference);
    Some((t.resource_type?, t.id?))
}

/// The id of the Patient a literal reference names.
pub fn patient_id(reference: &str) -> Option<String> {
    match type_and_id(reference)? {
        ("Patient", id) => Some(id.to_string()),
        _ => None,
    }
}

/// A resource type name: `Patient`, `DocumentReference`.
pub(crate) fn is_type(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase()) && s.bytes().all(|b| b.is_ascii_alphabetic())
}

fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(
        resource_type: Option<&'a str>,
        id: Option<&'a str>,
        version: Option<&'a str>,
        url: Option<&'a str>,
    ) -> Target<'a> {
        Target {
            resource_type,
            id,
            version,
            url,
        }
    }

    #[test]
    fn relative() {
        assert_eq!(
            parse("Patient/123"),
            target(Some("Patient"), Some("123"), None, None)
        );
        assert_eq!(
            parse("Patient/123/_history/2"),
            target(Some("Patient"), Some("123"), Some("2"), None)
        );
        assert_eq!(parse("x/Patient/123"), Target::default());
        assert_eq!(parse("Patient?identifier=1"), Target::default());
        assert_eq!(parse("patient/1"), Target::default());
    }

    #[test]
    fn absolute_and_canonical() {
        let url = "http://x/fhir/Patient/123";
        assert_eq!(
            parse(url),
            target(Some("Patient"), Some("123"), None, Some(url))
        );
        let url = "http://x/fhir/Patient/123/_history/4";
        assert_eq!(
            parse(url),
            target(Some("Patient"), Some("123"), Some("4"), Some(url))
        );
        assert_eq!(
            parse("https://x/Questionnaire/ACP|1.0.0"),
            target(
                Some("Questionnaire"),
                Some("ACP"),
                Some("1.0.0"),
                Some("https://x/Questionnaire/ACP")
            )
        );
        let url = "http://snomed.info/sct";
        assert_eq!(parse(url), target(None, None, None, Some(url)));
    }

    #[test]
    fn urn_and_contained() {
        let urn = "urn:uuid:4f6a30fb-cd3c-4ab6-8757-532101f72065";
        assert_eq!(parse(urn), target(None, None, None, Some(urn)));
        assert_eq!(parse("#p1"), target(None, None, None, Some("#p1")));
    }
}
