//! Checks of primitive values against the R4 rules
//! (<http://hl7.org/fhir/R4/datatypes.html>), because fhirbolt accepts any string.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::generated::FhirType;

/// R4: "the maximum size of a string is 1MB".
pub(crate) const MAX_STRING_BYTES: usize = 1024 * 1024;

const YEAR: &str = "([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)";
const TIME: &str = "([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?";
const ZONE: &str = "(Z|(\\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))";

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in regular expression is valid")
}

static INTEGER: LazyLock<Regex> = LazyLock::new(|| regex("^-?(0|[1-9][0-9]*)$"));
static DECIMAL: LazyLock<Regex> =
    LazyLock::new(|| regex("^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?$"));
static ID: LazyLock<Regex> = LazyLock::new(|| regex("^[A-Za-z0-9\\-\\.]{1,64}$"));
static CODE: LazyLock<Regex> = LazyLock::new(|| regex("^[^\\s]+(\\s[^\\s]+)*$"));
static URI: LazyLock<Regex> = LazyLock::new(|| regex("^\\S+$"));
static OID: LazyLock<Regex> = LazyLock::new(|| regex("^urn:oid:[0-2](\\.(0|[1-9][0-9]*))+$"));
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    regex("^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
});
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        "^{YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$"
    ))
});
static DATE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        "^{YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T{TIME}{ZONE})?)?)?$"
    ))
});
static INSTANT: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        "^{YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T{TIME}{ZONE}$"
    ))
});
static TIME_OF_DAY: LazyLock<Regex> = LazyLock::new(|| regex(&format!("^{TIME}$")));

/// A failed primitive check: FHIR issue-type code and message (without the path).
pub(crate) type Failure = (&'static str, String);

/// Check one primitive value (never null, never an array) of type `ty`.
pub(crate) fn check_primitive(ty: FhirType, value: &Value) -> Result<(), Failure> {
    match ty {
        FhirType::Boolean => match value {
            Value::Bool(_) => Ok(()),
            other => Err(wrong_json_type("a JSON boolean (true or false)", other)),
        },
        FhirType::Integer => check_integer(value, "integer", i64::from(i32::MIN)),
        FhirType::UnsignedInt => check_integer(value, "unsignedInt", 0),
        FhirType::PositiveInt => check_integer(value, "positiveInt", 1),
        FhirType::Decimal => match value {
            Value::Number(n) => {
                let text = n.to_string();
                if DECIMAL.is_match(&text) {
                    Ok(())
                } else {
                    Err(("value", format!("{text} is not a valid FHIR decimal")))
                }
            }
            other => Err(wrong_json_type("a JSON number", other)),
        },
        _ => {
            let Value::String(s) = value else {
                return Err(wrong_json_type("a JSON string", value));
            };
            check_string(s)?;
            check_string_format(ty, s)
        }
    }
}

fn check_integer(value: &Value, name: &str, min: i64) -> Result<(), Failure> {
    let Value::Number(n) = value else {
        return Err(wrong_json_type("a JSON number", value));
    };
    let text = n.to_string();
    let max = i64::from(i32::MAX);
    let in_range =
        INTEGER.is_match(&text) && text.parse::<i64>().is_ok_and(|v| (min..=max).contains(&v));
    if in_range {
        Ok(())
    } else {
        Err((
            "value",
            format!(
                "{text} is not a valid FHIR {name} (expected a whole number from {min} to {max})"
            ),
        ))
    }
}

/// Rules shared by every string-based primitive.
fn check_string(s: &str) -> Result<(), Failure> {
    if s.trim().is_empty() {
        return Err((
            "value",
            "empty or whitespace-only strings are not allowed in FHIR (omit the element instead)"
                .to_string(),
        ));
    }
    if s.len() > MAX_STRING_BYTES {
        return Err((
            "too-long",
            format!(
                "string of {} bytes exceeds the FHIR maximum of 1 MB",
                s.len()
            ),
        ));
    }
    if let Some(c) = s.chars().find(|c| {
        (*c < ' ' && !matches!(c, '\t' | '\r' | '\n')) || *c == '\u{fffe}' || *c == '\u{ffff}'
    }) {
        return Err((
            "value",
            format!(
                "{} contains the control character U+{:04X}, which FHIR strings (and XML) do not allow",
                quote(s),
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

fn check_string_format(ty: FhirType, s: &str) -> Result<(), Failure> {
    let (ok, expected) = match ty {
        FhirType::Id => (ID.is_match(s), "1 to 64 characters A-Z, a-z, 0-9, '-' or '.'"),
        FhirType::Code => (
            CODE.is_match(s),
            "no leading or trailing whitespace and no runs of whitespace",
        ),
        FhirType::Uri | FhirType::Url | FhirType::Canonical => {
            (URI.is_match(s), "no whitespace")
        }
        FhirType::Oid => (
            OID.is_match(s),
            "urn:oid: followed by a dotted number, e.g. urn:oid:2.16.840.1.113883",
        ),
        FhirType::Uuid => (
            UUID.is_match(s),
            "urn:uuid: followed by a lowercase UUID, e.g. urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
        ),
        FhirType::Date => (
            DATE.is_match(s) && valid_day(s),
            "YYYY, YYYY-MM or YYYY-MM-DD",
        ),
        FhirType::DateTime => (
            DATE_TIME.is_match(s) && valid_day(s),
            "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.fff] with a time zone (Z or +hh:mm)",
        ),
        FhirType::Instant => (
            INSTANT.is_match(s) && valid_day(s),
            "YYYY-MM-DDThh:mm:ss[.fff] with a time zone (Z or +hh:mm)",
        ),
        FhirType::Time => (TIME_OF_DAY.is_match(s), "hh:mm:ss[.fff]"),
        FhirType::Base64Binary => (valid_base64(s), "base64 encoded data"),
        // string, markdown; xhtml is checked separately
        _ => (true, ""),
    };
    if ok {
        Ok(())
    } else {
        Err((
            "value",
            format!(
                "{} is not a valid FHIR {} (expected {expected})",
                quote(s),
                ty.name()
            ),
        ))
    }
}

/// The regular expressions allow 2023-02-31; the calendar does not.
fn valid_day(s: &str) -> bool {
    let (Some(year), Some(month), Some(day)) = (s.get(0..4), s.get(5..7), s.get(8..10)) else {
        return true;
    };
    let (Ok(year), Ok(month), Ok(day)) = (
        year.parse::<u32>(),
        month.parse::<u32>(),
        day.parse::<u32>(),
    ) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    day <= days
}

/// RFC 4648 base64; whitespace is tolerated as in the R4 regular expression.
fn valid_base64(s: &str) -> bool {
    let data: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if data.is_empty() || !data.len().is_multiple_of(4) {
        return false;
    }
    let padding = data.iter().rev().take_while(|b| **b == b'=').count();
    padding <= 2
        && data[..data.len() - padding]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn wrong_json_type(expected: &str, got: &Value) -> Failure {
    (
        "value",
        format!("expected {expected}, got {}", describe(got)),
    )
}

/// Short description of a JSON value for messages.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", quote(s)),
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// Quote a value for a message, shortened to keep messages readable.
pub(crate) fn quote(s: &str) -> String {
    const LIMIT: usize = 80;
    let mut out = String::from("'");
    for (i, c) in s.chars().enumerate() {
        if i == LIMIT {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(ty: FhirType, v: Value) -> bool {
        check_primitive(ty, &v).is_ok()
    }

    #[test]
    fn calendar_days() {
        assert!(valid_day("2024-02-29"));
        assert!(!valid_day("2023-02-29"));
        assert!(!valid_day("2023-04-31"));
        assert!(valid_day("2000-02-29"));
        assert!(!valid_day("1900-02-29"));
        assert!(valid_day("2023"));
    }

    #[test]
    fn base64() {
        assert!(valid_base64("SGVsbG8="));
        assert!(valid_base64("SGVs\nbG8h"));
        assert!(!valid_base64("SGVsbG8"));
        assert!(!valid_base64("SG=sbG8="));
        assert!(!valid_base64("===="));
    }

    #[test]
    fn integers_use_the_json_text() {
        assert!(ok(FhirType::Integer, json!(-2147483648i64)));
        assert!(!ok(FhirType::Integer, json!(2147483648i64)));
        assert!(!ok(FhirType::UnsignedInt, json!(-1)));
        assert!(!ok(FhirType::PositiveInt, json!(0)));
        let fraction: Value = serde_json::from_str("1.0").unwrap();
        assert!(!ok(FhirType::Integer, fraction));
        let exponent: Value = serde_json::from_str("1e2").unwrap();
        assert!(!ok(FhirType::Integer, exponent));
    }

    #[test]
    fn quote_shortens_and_escapes() {
        assert_eq!(quote("a\nb"), "'a\\nb'");
        assert!(quote(&"x".repeat(200)).ends_with("...'"));
    }
}
