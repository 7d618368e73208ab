//! A QuestionnaireResponse checked against the Questionnaire it answers: every linkId exists
//! where it is used, answers have the item's type, items that do not repeat have at most one
//! answer, and a completed response answers the required items (those without `enableWhen`,
//! whose conditions are not evaluated).

use fhir_format::{Issue, Severity};
use serde_json::{Map, Value};

use crate::error::issue;

/// The answer element(s) an item type admits.
fn answer_types(item_type: &str) -> &'static [&'static str] {
    match item_type {
        "boolean" => &["valueBoolean"],
        "decimal" => &["valueDecimal"],
        "integer" => &["valueInteger"],
        "date" => &["valueDate"],
        "dateTime" => &["valueDateTime"],
        "time" => &["valueTime"],
        "string" | "text" => &["valueString"],
        "url" => &["valueUri"],
        "choice" => &["valueCoding"],
        "open-choice" => &["valueCoding", "valueString"],
        "attachment" => &["valueAttachment"],
        "reference" => &["valueReference"],
        "quantity" => &["valueQuantity"],
        _ => &[],
    }
}

fn items(v: &Value) -> &[Value] {
    v.get("item")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Every issue of `response` against `questionnaire`.
pub fn check(response: &Value, questionnaire: &Value) -> Vec<Issue> {
    let mut out = Vec::new();
    let completed = text(response, "status") == Some("completed");
    check_items(
        items(response),
        items(questionnaire),
        "QuestionnaireResponse",
        completed,
        &mut out,
    );
    out
}

fn check_items(
    given: &[Value],
    defined: &[Value],
    at: &str,
    completed: bool,
    out: &mut Vec<Issue>,
) {
    let error = |code, text: String, at: String| issue(Severity::Error, code, text, Some(at));
    for (n, item) in given.iter().enumerate() {
        let here = format!("{at}.item[{n}]");
        let link = text(item, "linkId").unwrap_or_default();
        let Some(def) = defined.iter().find(|d| text(d, "linkId") == Some(link)) else {
            out.push(error(
                "value",
                format!("linkId '{link}' is not an item of the questionnaire here"),
                format!("{here}.linkId"),
            ));
            continue;
        };
        let item_type = text(def, "type").unwrap_or_default();
        let answers = item
            .get("answer")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let repeats = def.get("repeats").and_then(Value::as_bool).unwrap_or(false);
        if !repeats && answers.len() > 1 {
            out.push(error(
                "structure",
                format!(
                    "item '{link}' does not repeat but has {} answers",
                    answers.len()
                ),
                format!("{here}.answer"),
            ));
        }
        let allowed = answer_types(item_type);
        for (a, answer) in answers.iter().enumerate() {
            let value = answer
                .as_object()
                .into_iter()
                .flat_map(Map::keys)
                .find(|k| k.starts_with("value"));
            if let Some(v) = value {
                if !allowed.contains(&v.as_str()) {
                    out.push(error(
                        "value",
                        format!(
                            "item '{link}' is of type {item_type}, which is not answered with {v}"
                        ),
                        format!("{here}.answer[{a}].{v}"),
                    ));
                }
            }
            check_items(
                items(answer),
                items(def),
                &format!("{here}.answer[{a}]"),
                completed,
                out,
            );
        }
        check_items(items(item), items(def), &here, completed, out);
    }
    if completed {
        for def in defined {
            let required = def
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let conditional = def.get("enableWhen").is_some();
            let link = text(def, "linkId").unwrap_or_default();
            if required && !conditional && !given.iter().any(|i| text(i, "linkId") == Some(link)) {
                out.push(error(
                    "required",
                    format!("the response is completed but misses the required item '{link}'"),
                    format!("{at}.item"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn questionnaire() -> Value {
        json!({"item": [
            {"linkId": "1", "type": "group", "item": [
                {"linkId": "1.1", "type": "boolean", "required": true},
                {"linkId": "1.2", "type": "choice"}]},
            {"linkId": "2", "type": "string", "required": true, "enableWhen": [{"question": "1.1"}]}]})
    }

    #[test]
    fn a_matching_response_passes() {
        let r = json!({"status": "completed", "item": [{"linkId": "1", "item": [
            {"linkId": "1.1", "answer": [{"valueBoolean": true}]},
            {"linkId": "1.2", "answer": [{"valueCoding": {"code": "a"}}]}]}]});
        assert!(check(&r, &questionnaire()).is_empty());
    }

    #[test]
    fn unknown_links_wrong_types_repeats_and_missing_items() {
        let r = json!({"status": "completed", "item": [{"linkId": "1", "item": [
            {"linkId": "1.2", "answer": [{"valueString": "x"}, {"valueCoding": {"code": "a"}}]},
            {"linkId": "9"}]}]});
        let at: Vec<String> = check(&r, &questionnaire())
            .into_iter()
            .map(|i| i.expression.unwrap())
            .collect();
        assert_eq!(
            at,
            [
                "QuestionnaireResponse.item[0].item[0].answer",
                "QuestionnaireResponse.item[0].item[0].answer[0].valueString",
                "QuestionnaireResponse.item[0].item[1].linkId",
                "QuestionnaireResponse.item[0].item",
            ]
        );
    }
}
