//! FHIR XML through fhirbolt, with narrative carried verbatim and output fixed up.

use std::sync::LazyLock;

use regex::bytes::{Captures, Regex};
use serde_json::Value;

use crate::{
    bolt, check, has_failure, required, xhtml, xml_prepare, xml_walk, Issue, Limits, Severity,
};

/// A placeholder div as fhirbolt writes it (it may indent the marker).
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "(\\n[ ]*)?<div xmlns=\"{}\">\\s*{}([0-9]+)\\s*</div>",
        regex::escape(xhtml::XHTML_NAMESPACE),
        xhtml::MARKER
    ))
    .expect("built-in regular expression is valid")
});

/// Whitespace between tags, i.e. fhirbolt's indentation (it always indents).
static INDENTATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(">\\s+<").expect("built-in regular expression is valid"));

/// XML -> fhirbolt -> FHIR JSON, then the same checks as for JSON input.
pub(crate) fn parse(bytes: &[u8], limits: &Limits) -> Result<Value, Vec<Issue>> {
    let prepared = xml_prepare::prepare(bytes, limits.max_depth).map_err(|issue| vec![issue])?;
    let walk = xml_walk::walk(&prepared.xml);
    if has_failure(&walk.issues) {
        return Err(walk.issues);
    }
    let resource = bolt::from_xml(&walk.apply(&prepared.xml)).map_err(|issue| vec![issue])?;
    let json = bolt::to_json(&resource).map_err(|issue| vec![issue])?;
    let mut value: Value = serde_json::from_slice(&json).map_err(|e| {
        vec![Issue::new(
            Severity::Fatal,
            "exception",
            format!("the FHIR library produced invalid JSON: {e}"),
        )]
    })?;
    required::strip_json(&mut value);
    xhtml::restore_divs(&mut value, &prepared.divs);
    let issues = check::check_resource(&value, limits);
    if has_failure(&issues) {
        return Err(issues);
    }
    Ok(value)
}

/// FHIR JSON -> fhirbolt -> XML.
pub(crate) fn to_xml(resource: &Value, pretty: bool) -> Result<Vec<u8>, Issue> {
    let issues = check::check_resource(resource, &Limits::default());
    if let Some(first) = issues.iter().find(|issue| issue.severity.is_failure()) {
        let mut issue = first.clone();
        let more = issues.iter().filter(|i| i.severity.is_failure()).count() - 1;
        if more > 0 {
            issue.diagnostics = format!("{} (and {more} more issues)", issue.diagnostics);
        }
        return Err(issue);
    }
    let mut copy = resource.clone();
    required::fill_json(&mut copy);
    let mut divs = Vec::new();
    xhtml::replace_divs(&mut copy, &mut divs);
    let json = serde_json::to_vec(&copy).map_err(|e| {
        Issue::new(
            Severity::Fatal,
            "exception",
            format!("cannot serialise the resource: {e}"),
        )
    })?;
    let typed = bolt::from_json(&json)?;
    let xml = required::strip_xml(&bolt::to_xml(&typed)?);
    let mut xml = escape_attribute_whitespace(&xml);
    if !pretty {
        xml = INDENTATION.replace_all(&xml, &b"><"[..]).into_owned();
    }
    let xml = PLACEHOLDER.replace_all(&xml, |captures: &Captures| {
        let index = std::str::from_utf8(&captures[2])
            .ok()
            .and_then(|index| index.parse::<usize>().ok());
        match index.and_then(|index| divs.get(index)) {
            // a marker for a missing div: no element at all
            Some(div) if div == required::MARK => Vec::new(),
            Some(div) => {
                let indentation = captures.get(1).map_or(&b""[..], |m| m.as_bytes());
                [indentation, div.as_bytes()].concat()
            }
            None => captures[0].to_vec(),
        }
    });
    Ok(xml.into_owned())
}

/// fhirbolt writes tabs and line breaks in attribute values literally, which any XML
/// parser turns into spaces (attribute-value normalisation); write character
/// references instead.
fn escape_attribute_whitespace(xml: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(xml.len());
    let mut in_tag = false;
    let mut in_value = false;
    for &b in xml {
        match b {
            b'<' if !in_tag => in_tag = true,
            b'>' if in_tag && !in_value => in_tag = false,
            b'"' if in_tag => in_value = !in_value,
            b'\n' if in_value => {
                out.extend_from_slice(b"&#10;");
                continue;
            }
            b'\r' if in_value => {
                out.extend_from_slice(b"&#13;");
                continue;
            }
            b'\t' if in_value => {
                out.extend_from_slice(b"&#9;");
                continue;
            }
            _ => {}
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_whitespace_is_escaped() {
        let xml = b"<a value=\"x\ny\tz\">\n  <b value=\"1\"/>\n</a>";
        assert_eq!(
            escape_attribute_whitespace(xml),
            b"<a value=\"x&#10;y&#9;z\">\n  <b value=\"1\"/>\n</a>".to_vec()
        );
    }
}
