//! Narrative XHTML (`Narrative.div`).
//!
//! fhirbolt re-indents the XHTML when writing XML and trims its text and drops the div's
//! attributes when reading XML, so narrative would not survive a JSON -> XML -> JSON
//! round trip. This module checks the XHTML and lets `xml` carry divs through fhirbolt
//! as placeholders (see `xml_prepare` for XML input), putting the original text back
//! afterwards.

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;
use serde_json::Value;

use crate::primitives::quote;

pub(crate) const XHTML_NAMESPACE: &str = "http://www.w3.org/1999/xhtml";

/// Marker text of a placeholder div; an input that contains it is not rewritten.
pub(crate) const MARKER: &str = "FHIRFORMATDIV";

/// A placeholder div, as fhirbolt reads and writes it.
pub(crate) fn placeholder(index: usize) -> String {
    format!("<div xmlns=\"{XHTML_NAMESPACE}\">{MARKER}{index}</div>")
}

/// The allowed elements and attributes of FHIR R4's txt-1 (its formal list); `xml:lang`
/// and `xml:space` are XML's own. Everything else, scripts, styles, forms, frames,
/// objects, head, body, base, link and meta included, is refused.
#[rustfmt::skip]
const ELEMENTS: &[&str] = &[
    "a", "abbr", "acronym", "b", "big", "blockquote", "br", "caption", "cite", "code",
    "col", "colgroup", "dd", "dfn", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "li", "ol", "p", "pre", "q", "samp", "small", "span", "strong",
    "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "ul", "var",
];
#[rustfmt::skip]
const ATTRIBUTES: &[&str] = &[
    "abbr", "accesskey", "align", "alt", "axis", "bgcolor", "border", "cellhalign",
    "cellpadding", "cellspacing", "cellvalign", "char", "charoff", "charset", "cite",
    "class", "colspan", "compact", "coords", "dir", "frame", "headers", "height", "href",
    "hreflang", "hspace", "id", "lang", "longdesc", "name", "nowrap", "rel", "rev",
    "rowspan", "rules", "scope", "shape", "span", "src", "start", "style", "summary",
    "tabindex", "title", "type", "valign", "value", "vspace", "width", "xml:lang",
    "xml:space",
];

/// Attributes holding a URL, which a browser follows or loads.
const URL_ATTRIBUTES: &[&str] = &["href", "src", "cite", "longdesc"];

/// CSS in a style attribute that runs script or pulls in external code (compared without
/// whitespace and comments, in lower case).
const STYLE_FORBIDDEN: &[&str] = &[
    "javascript:",
    "vbscript:",
    "expression(",
    "behavior:",
    "-moz-binding",
    "@import",
];

/// What is wrong with a narrative: the issue-type code and the message.
pub(crate) type Problem = (&'static str, String);

/// Not well-formed, or not an XHTML `div` as FHIR requires.
fn malformed(message: impl Into<String>) -> Problem {
    ("value", message.into())
}

fn not_well_formed(error: impl std::fmt::Display) -> Problem {
    malformed(format!("the narrative is not well-formed XHTML: {error}"))
}

/// A narrative rule of the specification (txt-1, txt-2) is broken.
fn rule(message: String) -> Problem {
    ("invariant", message)
}

/// Check that `s` is a well-formed XHTML `div` element with the XHTML namespace declared
/// on it, as FHIR JSON requires, that keeps to txt-1 (only basic formatting, links and
/// images: nothing that runs script) and txt-2 (some non-whitespace content).
pub(crate) fn check(s: &str) -> Result<(), Problem> {
    if !s.starts_with("<div") {
        return Err(malformed(
            "the narrative must be an XHTML fragment starting with <div",
        ));
    }
    let mut reader = NsReader::from_str(s);
    reader.check_end_names(true);
    let mut walk = Walk::default();
    loop {
        let (namespace, event) = reader.read_resolved_event().map_err(not_well_formed)?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                walk.element(&namespace, start)?;
                walk.depth += usize::from(matches!(event, Event::Start(_)));
            }
            Event::End(_) => walk.depth -= 1,
            Event::Text(ref text) => walk.text(text)?,
            Event::CData(ref data) if walk.depth > 0 => {
                walk.has_content |= !is_blank(&String::from_utf8_lossy(data));
            }
            Event::Comment(_) if walk.depth > 0 => {}
            Event::Eof => break,
            _ => {
                return Err(malformed(
                    "the narrative may only contain XHTML elements, text and comments",
                ))
            }
        }
    }
    walk.finish()
}

/// State of the walk through one narrative.
#[derive(Default)]
struct Walk {
    depth: usize,
    root_seen: bool,
    /// Non-whitespace text or an image (txt-2).
    has_content: bool,
}

impl Walk {
    /// A start tag: the root `div`, the XHTML namespace, txt-1's elements and attributes.
    fn element(&mut self, namespace: &ResolveResult, start: &BytesStart) -> Result<(), Problem> {
        if self.depth == 0 {
            self.root(start)?;
        }
        let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
        match namespace {
            ResolveResult::Bound(Namespace(ns)) if *ns == XHTML_NAMESPACE.as_bytes() => {}
            ResolveResult::Unknown(prefix) => {
                return Err(malformed(format!(
                    "the narrative uses the undeclared namespace prefix '{}'",
                    String::from_utf8_lossy(prefix)
                )))
            }
            _ => {
                return Err(rule(format!(
                    "the narrative may only contain XHTML elements; element {} is not in the XHTML namespace (txt-1)",
                    quote(&name)
                )))
            }
        }
        check_element(&name)?;
        for attribute in start.attributes() {
            let attribute = attribute.map_err(not_well_formed)?;
            let value = attribute.unescape_value().map_err(not_well_formed)?;
            let key = String::from_utf8_lossy(attribute.key.as_ref());
            check_attribute(&name, &key, &value)?;
            self.has_content |= name == "img" && key == "src";
        }
        Ok(())
    }

    /// The root must be one `<div xmlns="http://www.w3.org/1999/xhtml">`.
    fn root(&mut self, start: &BytesStart) -> Result<(), Problem> {
        if self.root_seen {
            return Err(malformed("the narrative must be a single <div> element"));
        }
        self.root_seen = true;
        let declared = start.attributes().any(|a| {
            a.is_ok_and(|a| {
                a.key.as_ref() == b"xmlns" && a.value.as_ref() == XHTML_NAMESPACE.as_bytes()
            })
        });
        if start.name().as_ref() != b"div" || !declared {
            return Err(malformed(format!(
                "the narrative must start with <div xmlns=\"{XHTML_NAMESPACE}\">"
            )));
        }
        Ok(())
    }

    fn text(&mut self, text: &BytesText) -> Result<(), Problem> {
        if self.depth == 0 {
            return Err(malformed(
                "the narrative must contain only the <div> element",
            ));
        }
        let text = text.unescape().map_err(not_well_formed)?;
        self.has_content |= !is_blank(&text);
        Ok(())
    }

    fn finish(self) -> Result<(), Problem> {
        if self.depth != 0 || !self.root_seen {
            return Err(malformed(
                "the narrative is not well-formed XHTML (unclosed element)",
            ));
        }
        if !self.has_content {
            return Err(rule(
                "the narrative has no content: it must have some non-whitespace text or an image (txt-2)"
                    .to_string(),
            ));
        }
        Ok(())
    }
}

/// Whitespace as XML defines it (what XPath's normalize-space removes).
fn is_blank(text: &str) -> bool {
    text.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

fn check_element(name: &str) -> Result<(), Problem> {
    if ELEMENTS.contains(&name) {
        return Ok(());
    }
    Err(rule(format!(
        "element {} is not allowed in narrative (txt-1: only basic HTML formatting, links and images; no scripts, styles, forms, frames, objects, head, body, base, link or meta)",
        quote(name)
    )))
}

/// txt-1's attributes, and the URL and style rules that keep scripts out of them.
fn check_attribute(element: &str, key: &str, value: &str) -> Result<(), Problem> {
    if key == "xmlns" || key.starts_with("xmlns:") {
        return check_namespace_declaration(key, value);
    }
    if key.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("on")) {
        return Err(rule(format!(
            "event-handler attribute {} on <{element}> is not allowed in narrative (txt-1: no scripts)",
            quote(key)
        )));
    }
    if !ATTRIBUTES.contains(&key) {
        return Err(rule(format!(
            "attribute {} on <{element}> is not allowed in narrative (txt-1: only basic HTML formatting attributes)",
            quote(key)
        )));
    }
    if URL_ATTRIBUTES.contains(&key) {
        check_url(element, key, value)?;
    }
    if key == "style" {
        check_style(value)?;
    }
    Ok(())
}

/// Only the XHTML namespace may be declared: other vocabularies (xlink, SVG ...) are not
/// narrative.
fn check_namespace_declaration(key: &str, value: &str) -> Result<(), Problem> {
    if value == XHTML_NAMESPACE {
        return Ok(());
    }
    Err(rule(format!(
        "namespace declaration {} is not allowed in narrative: only the XHTML namespace may be used (txt-1)",
        quote(key)
    )))
}

/// `javascript:` and `vbscript:` URLs run script when followed; `data:` URLs carry content
/// of their own, allowed only as an image (not SVG, which can hold script).
fn check_url(element: &str, key: &str, value: &str) -> Result<(), Problem> {
    // browsers ignore whitespace and control characters in the scheme
    let url: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    let Some((scheme, rest)) = url.split_once(':') else {
        return Ok(());
    };
    let forbidden = match scheme {
        "javascript" | "vbscript" => true,
        "data" => !(element == "img" && key == "src" && is_inline_image(rest)),
        _ => false,
    };
    if !forbidden {
        return Ok(());
    }
    Err(rule(format!(
        "{key} on <{element}> is a {scheme}: URL, which is not allowed in narrative (txt-1: no scripts; inline data only as an image)"
    )))
}

/// The media type of a `data:` URL (after the scheme) is a raster image.
fn is_inline_image(rest: &str) -> bool {
    let media_type = rest.split([';', ',']).next().unwrap_or_default();
    media_type.starts_with("image/") && media_type != "image/svg+xml"
}

/// Inline style is allowed; CSS that runs script or pulls in external code is not. CSS
/// escapes could hide either, so they are refused too.
fn check_style(value: &str) -> Result<(), Problem> {
    let css: String = without_css_comments(value)
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    let found = if css.contains('\\') {
        Some("\\")
    } else {
        STYLE_FORBIDDEN.iter().copied().find(|p| css.contains(p))
    };
    match found {
        None => Ok(()),
        Some(found) => Err(rule(format!(
            "a style attribute with '{found}' is not allowed in narrative (txt-1: no scripts, no external stylesheets)"
        ))),
    }
}

fn without_css_comments(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        rest = after.find("*/").map_or("", |end| &after[end + 2..]);
    }
    out.push_str(rest);
    out
}

/// Put the original text back where fhirbolt returned a placeholder div.
pub(crate) fn restore_divs(value: &mut Value, divs: &[String]) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "div" {
                    if let Value::String(s) = child {
                        if let Some(original) = placeholder_index(s).and_then(|i| divs.get(i)) {
                            *s = original.clone();
                        }
                        continue;
                    }
                }
                restore_divs(child, divs);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| restore_divs(item, divs)),
        _ => {}
    }
}

/// Replace every narrative div of a resource by a placeholder; returns the originals.
pub(crate) fn replace_divs(value: &mut Value, divs: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "div" {
                    if let Value::String(s) = child {
                        let index = divs.len();
                        divs.push(std::mem::replace(s, placeholder(index)));
                        continue;
                    }
                }
                replace_divs(child, divs);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| replace_divs(item, divs)),
        _ => {}
    }
}

fn placeholder_index(s: &str) -> Option<usize> {
    let prefix = format!("<div xmlns=\"{XHTML_NAMESPACE}\">{MARKER}");
    s.strip_prefix(&prefix)?
        .strip_suffix("</div>")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "xmlns=\"http://www.w3.org/1999/xhtml\"";

    #[test]
    fn accepts_well_formed_divs() {
        assert_eq!(
            check(&format!("<div {NS}>a <b>b</b> &amp; &#160;</div>")),
            Ok(())
        );
        assert_eq!(check(&format!("<div {NS}><img src=\"#x\"/></div>")), Ok(()));
        assert_eq!(
            check(&format!("<div {NS} lang=\"nl\"><div><p>x</p></div></div>")),
            Ok(())
        );
    }

    #[test]
    fn rejects_bad_divs() {
        assert!(check("<p>x</p>").is_err());
        assert!(check("<div>no namespace</div>").is_err());
        assert!(check(&format!("<div {NS}><p>x</div>")).is_err());
        assert!(check(&format!("<div {NS}>x</div><div {NS}>y</div>")).is_err());
        assert!(check(&format!("<div {NS}>x</div> trailing")).is_err());
        assert!(check(&format!("<div {NS}>&nbsp;</div>")).is_err());
        assert!(check(&format!("<div {NS}><x:p>x</x:p></div>")).is_err());
        assert!(check(&format!("<div {NS}>x")).is_err());
    }

    #[test]
    fn txt_1_and_txt_2_are_invariants() {
        for div in [
            format!("<div {NS}/>"),
            format!("<div {NS}>x<script/></div>"),
            format!("<div {NS}><a href=\"javascript:x()\">x</a></div>"),
            format!("<div {NS}><p onload=\"x()\">x</p></div>"),
        ] {
            assert_eq!(
                check(&div).map_err(|(code, _)| code),
                Err("invariant"),
                "{div}"
            );
        }
        assert_eq!(
            check("<div>x</div>").map_err(|(code, _)| code),
            Err("value")
        );
    }

    #[test]
    fn urls_are_judged_by_their_scheme() {
        assert!(check_url("a", "href", "http://example.org/javascript:").is_ok());
        assert!(check_url("a", "href", "#javascript").is_ok());
        assert!(check_url("a", "href", "\u{1}java\nscript:x").is_err());
        assert!(check_url("img", "src", "data:image/gif;base64,R0lGOD").is_ok());
        assert!(check_url("img", "src", "DATA:Image/SVG+XML,<svg/>").is_err());
        assert!(check_url("a", "href", "data:image/gif;base64,R0lGOD").is_err());
    }

    #[test]
    fn style_is_read_without_comments_and_space() {
        assert!(check_style("color: red; font-weight: bold").is_ok());
        assert!(check_style("width: expr/* x */ession(alert(1))").is_err());
        assert!(check_style("behavior : url(x.htc)").is_err());
        assert!(check_style("color: red; /* unclosed").is_ok());
    }

    #[test]
    fn replaces_and_restores() {
        let original = format!("<div {NS}>\n  <p>Hi  <b>there</b></p>\n</div>");
        let mut value = serde_json::json!({"text": {"div": original}, "contained": [{"text": {"div": original}}]});
        let mut divs = Vec::new();
        replace_divs(&mut value, &mut divs);
        assert_eq!(divs.len(), 2);
        assert_eq!(value["contained"][0]["text"]["div"], placeholder(1));
        restore_divs(&mut value, &divs);
        assert_eq!(value["text"]["div"], original);
        assert_eq!(value["contained"][0]["text"]["div"], original);
    }
}
