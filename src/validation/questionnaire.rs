//! A QuestionnaireResponse checked against the Questionnaire it answers: every linkId exists
//! where it is used, answers have the item's type, items that do not repeat have at most one
//! answer, items whose `enableWhen` conditions are not met hold no answers, and a completed
//! response answers the required items that are enabled.

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
    let context = Context {
        response,
        completed,
    };
    check_items(
        &context,
        items(response),
        items(questionnaire),
        "QuestionnaireResponse",
        &mut out,
    );
    out
}

/// What every level of the check needs: the whole response (enableWhen may name any question)
/// and whether it claims to be complete.
struct Context<'a> {
    response: &'a Value,
    completed: bool,
}

/// Every answer given to the question `link`, anywhere in the response.
fn answers_to<'a>(v: &'a Value, link: &str, out: &mut Vec<&'a Value>) {
    for item in items(v) {
        let answers = item.get("answer").and_then(Value::as_array);
        if text(item, "linkId") == Some(link) {
            out.extend(answers.into_iter().flatten());
        }
        answers_to(item, link, out);
        for a in answers.into_iter().flatten() {
            answers_to(a, link, out);
        }
    }
}

/// Whether an item's `enableWhen` conditions hold (all of them, or any with
/// `enableBehavior` `any`); an item without conditions is always enabled.
fn enabled(def: &Value, response: &Value) -> bool {
    let Some(conditions) = def.get("enableWhen").and_then(Value::as_array) else {
        return true;
    };
    let holds = |c: &Value| {
        let mut given = Vec::new();
        answers_to(
            response,
            text(c, "question").unwrap_or_default(),
            &mut given,
        );
        let operator = text(c, "operator").unwrap_or("=");
        if operator == "exists" {
            let wanted = c
                .get("answerBoolean")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            return given.is_empty() != wanted;
        }
        let Some((key, expected)) = c
            .as_object()
            .into_iter()
            .flatten()
            .find(|(k, _)| k.starts_with("answer"))
        else {
            return false;
        };
        let value_key = key.replacen("answer", "value", 1);
        given
            .iter()
            .filter_map(|a| a.get(&value_key))
            .any(|actual| compare(operator, actual, expected))
    };
    match text(def, "enableBehavior") {
        Some("any") => conditions.iter().any(holds),
        _ => conditions.iter().all(holds),
    }
}

/// `actual operator expected` for one answer value. Codings are equal when their codes are and,
/// where the condition names a system, their systems; quantities compare by value; dates,
/// times and strings as text (the same precision orders correctly).
fn compare(operator: &str, actual: &Value, expected: &Value) -> bool {
    use std::cmp::Ordering;
    // Codings and references have no order, only (in)equality.
    let equality = |same: bool| {
        matches!(operator, "=" | "!=").then_some(if same {
            Ordering::Equal
        } else {
            Ordering::Less
        })
    };
    let order = match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Object(a), Value::Object(b)) if b.contains_key("value") => a
            .get("value")
            .and_then(Value::as_f64)
            .zip(b.get("value").and_then(Value::as_f64))
            .and_then(|(x, y)| x.partial_cmp(&y)),
        (Value::Object(a), Value::Object(b)) if b.contains_key("code") => {
            let same = |k: &str| b.get(k).is_none_or(|e| a.get(k) == Some(e));
            equality(same("system") && same("code"))
        }
        (Value::Object(a), Value::Object(b)) => equality(a.get("reference") == b.get("reference")),
        _ => None,
    };
    let Some(order) = order else {
        return false;
    };
    match operator {
        "=" => order.is_eq(),
        "!=" => order.is_ne(),
        ">" => order.is_gt(),
        "<" => order.is_lt(),
        ">=" => order.is_ge(),
        "<=" => order.is_le(),
        _ => false,
    }
}

fn check_items(
    context: &Context,
    given: &[Value],
    defined: &[Value],
    at: &str,
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
        if !enabled(def, context.response) {
            out.push(error(
                "business-rule",
                format!("item '{link}' is answered, but its enableWhen conditions are not met, so it must be left out"),
                here.clone(),
            ));
            continue;
        }
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
                context,
                items(answer),
                items(def),
                &format!("{here}.answer[{a}]"),
                out,
            );
        }
        check_items(context, items(item), items(def), &here, out);
    }
    if context.completed {
        for def in defined {
            let required = def
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let link = text(def, "linkId").unwrap_or_default();
            if required
                && enabled(def, context.response)
                && !given.iter().any(|i| text(i, "linkId") == Some(link))
            {
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

    fn conditional(condition: Value, behavior: Option<&str>) -> Value {
        let mut q = json!({"item": [
            {"linkId": "a", "type": "choice"},
            {"linkId": "n", "type": "integer"},
            {"linkId": "x", "type": "string", "required": true, "enableWhen": condition}]});
        if let Some(b) = behavior {
            q["item"][2]["enableBehavior"] = json!(b);
        }
        q
    }

    /// The issues of a completed response answering `a` and `n` (when given) and maybe `x`.
    fn issues(q: &Value, a: Option<Value>, n: Option<i64>, x: bool) -> Vec<String> {
        let mut answered = Vec::new();
        if let Some(a) = a {
            answered.push(json!({"linkId": "a", "answer": [{"valueCoding": a}]}));
        }
        if let Some(n) = n {
            answered.push(json!({"linkId": "n", "answer": [{"valueInteger": n}]}));
        }
        if x {
            answered.push(json!({"linkId": "x", "answer": [{"valueString": "why"}]}));
        }
        let r = json!({"status": "completed", "item": answered});
        check(&r, q).into_iter().map(|i| i.diagnostics).collect()
    }

    #[test]
    fn enable_when_decides_whether_an_item_is_required_or_allowed() {
        let oth =
            json!({"system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "code": "OTH"});
        let q = conditional(
            json!([{"question": "a", "operator": "=", "answerCoding": oth}]),
            None,
        );
        // Enabled and required: missing is an error, answered is fine.
        let missing = issues(&q, Some(oth.clone()), None, false);
        assert!(
            missing[0].contains("misses the required item 'x'"),
            "{missing:?}"
        );
        assert!(issues(&q, Some(oth.clone()), None, true).is_empty());
        // Disabled: not required, and an answer to it is refused.
        let other = json!({"system": "http://snomed.info/sct", "code": "1"});
        assert!(issues(&q, Some(other.clone()), None, false).is_empty());
        assert!(issues(&q, None, None, false).is_empty());
        let answered = issues(&q, Some(other), None, true);
        assert!(
            answered[0].contains("enableWhen conditions are not met"),
            "{answered:?}"
        );
        // A condition without a system matches the code in any system.
        let q = conditional(
            json!([{"question": "a", "operator": "=", "answerCoding": {"code": "OTH"}}]),
            None,
        );
        assert_eq!(issues(&q, Some(oth.clone()), None, false).len(), 1);
        // exists, numeric comparison, any versus all.
        let q = conditional(
            json!([{"question": "a", "operator": "exists", "answerBoolean": true}]),
            None,
        );
        assert_eq!(issues(&q, Some(oth.clone()), None, false).len(), 1);
        assert!(issues(&q, None, None, false).is_empty());
        let q = conditional(
            json!([{"question": "n", "operator": ">=", "answerInteger": 3}]),
            None,
        );
        assert_eq!(issues(&q, None, Some(3), false).len(), 1);
        assert!(issues(&q, None, Some(2), false).is_empty());
        let both = json!([{"question": "n", "operator": ">", "answerInteger": 3},
                          {"question": "a", "operator": "exists", "answerBoolean": true}]);
        let all = conditional(both.clone(), Some("all"));
        assert!(issues(&all, None, Some(5), false).is_empty());
        assert_eq!(issues(&all, Some(oth.clone()), Some(5), false).len(), 1);
        let any = conditional(both, Some("any"));
        assert_eq!(issues(&any, None, Some(5), false).len(), 1);
        let q = conditional(
            json!([{"question": "a", "operator": "!=", "answerCoding": oth.clone()}]),
            None,
        );
        assert!(issues(&q, Some(oth), None, false).is_empty());
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
