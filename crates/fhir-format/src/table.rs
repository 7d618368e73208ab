//! Lookups in the generated R4 element table.

use crate::generated::{
    Child, COMPLEX_TYPES, CONTENT_REFERENCES, CONTEXTS, PRIMITIVE_TYPES, RESOURCE_TYPES,
};

/// The children of a type name ("HumanName") or backbone element path ("Patient.contact").
pub(crate) fn children(context: &str) -> Option<&'static [Child]> {
    CONTEXTS
        .binary_search_by(|(path, _)| (*path).cmp(context))
        .ok()
        .map(|i| CONTEXTS[i].1)
}

/// The child named `name` (JSON property / XML element name) in a context's children.
pub(crate) fn child<'a>(children: &'a [Child], name: &str) -> Option<&'a Child> {
    children
        .binary_search_by(|child| child.0.cmp(name))
        .ok()
        .map(|i| &children[i])
}

/// The element whose definition `path` reuses ("Questionnaire.item.item" -> "Questionnaire.item").
pub(crate) fn content_reference(path: &str) -> Option<&'static str> {
    CONTENT_REFERENCES
        .binary_search_by(|(from, _)| (*from).cmp(path))
        .ok()
        .map(|i| CONTENT_REFERENCES[i].1)
}

pub(crate) fn is_resource_type(name: &str) -> bool {
    RESOURCE_TYPES.binary_search(&name).is_ok()
}

pub(crate) fn is_complex_type(name: &str) -> bool {
    COMPLEX_TYPES.binary_search(&name).is_ok()
}

pub(crate) fn is_primitive_type(name: &str) -> bool {
    PRIMITIVE_TYPES.binary_search(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(list: &[&str]) -> bool {
        list.windows(2).all(|w| w[0] < w[1])
    }

    #[test]
    fn generated_lists_are_sorted() {
        assert!(sorted(RESOURCE_TYPES));
        assert!(sorted(COMPLEX_TYPES));
        assert!(sorted(PRIMITIVE_TYPES));
        assert!(CONTENT_REFERENCES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(CONTEXTS.windows(2).all(|w| w[0].0 < w[1].0));
        for (path, children) in CONTEXTS {
            assert!(children.windows(2).all(|w| w[0].0 < w[1].0), "{path}");
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(RESOURCE_TYPES.len(), 146);
        assert!(is_resource_type("Patient"));
        assert!(!is_resource_type("DomainResource"));
        assert!(is_complex_type("HumanName"));
        assert!(is_primitive_type("dateTime"));
        assert_eq!(
            content_reference("Questionnaire.item.item"),
            Some("Questionnaire.item")
        );
        assert!(children("Patient.contact").is_some());
        let observation = children("Observation").unwrap();
        assert!(observation.iter().any(|c| c.0 == "valueQuantity"));
    }
}
