//! QuestionnaireResponses are checked against the Questionnaire they answer when the server
//! holds it: our own small questionnaire, and the IKNL ACP questionnaire with its examples.

mod common;

use common::*;
use serde_json::{json, Value};

const URL: &str = "https://example.org/Questionnaire/wensen";

fn questionnaire() -> Value {
    json!({"resourceType": "Questionnaire", "id": "wensen", "url": URL, "version": "2", "status": "active",
        "item": [
            {"linkId": "reanimatie", "text": "Reanimeren?", "type": "boolean", "required": true},
            {"linkId": "plaats", "text": "Voorkeursplek van overlijden", "type": "choice"},
            {"linkId": "toelichting", "type": "string", "required": true,
             "enableWhen": [{"question": "reanimatie", "operator": "=", "answerBoolean": false}]}]})
}

fn response(id: &str, questionnaire: &str, items: Value) -> Value {
    json!({"resourceType": "QuestionnaireResponse", "id": id, "status": "completed",
           "questionnaire": questionnaire, "item": items})
}

backend_tests! {
    async fn responses_are_checked_against_the_held_questionnaire(app) {
        // Before the questionnaire is held, nothing can be checked.
        let odd = response("r0", URL, json!([{"linkId": "onbekend"}]));
        app.put_json("QuestionnaireResponse/r0", &odd).await.expect(201);

        app.put_json("Questionnaire/wensen", &questionnaire()).await.expect(201);
        let good = response("r1", &format!("{URL}|2"), json!([
            {"linkId": "reanimatie", "answer": [{"valueBoolean": false}]},
            {"linkId": "plaats", "answer": [{"valueCoding": {"system": "http://snomed.info/sct", "code": "264362003"}}]},
            {"linkId": "toelichting", "answer": [{"valueString": "wil thuis sterven"}]}]));
        app.put_json("QuestionnaireResponse/r1", &good).await.expect(201);

        // 'toelichting' is required only when 'reanimatie' is false, and allowed only then.
        let no_reason = response("r5", URL, json!([{"linkId": "reanimatie", "answer": [{"valueBoolean": false}]}]));
        let (_, text, at) = app.put_json("QuestionnaireResponse/r5", &no_reason).await.expect(422).issue();
        assert!(text.contains("misses the required item 'toelichting'"), "{text}");
        assert_eq!(at.as_deref(), Some("QuestionnaireResponse.item"));
        let reason_not_asked = response("r5", URL, json!([
            {"linkId": "reanimatie", "answer": [{"valueBoolean": true}]},
            {"linkId": "toelichting", "answer": [{"valueString": "x"}]}]));
        let (_, text, at) = app.put_json("QuestionnaireResponse/r5", &reason_not_asked).await.expect(422).issue();
        assert!(text.contains("item 'toelichting' is answered, but its enableWhen conditions are not met"), "{text}");
        assert_eq!(at.as_deref(), Some("QuestionnaireResponse.item[1]"));
        app.get("QuestionnaireResponse/r5").await.expect(404);
        let yes = response("r5", URL, json!([{"linkId": "reanimatie", "answer": [{"valueBoolean": true}]}]));
        app.put_json("QuestionnaireResponse/r5", &yes).await.expect(201);

        let bad = response("r2", URL, json!([
            {"linkId": "plaats", "answer": [{"valueString": "thuis"}, {"valueString": "hospice"}]},
            {"linkId": "onbekend", "answer": [{"valueString": "x"}]}]));
        let oo = app.put_json("QuestionnaireResponse/r2", &bad).await.expect(422).json();
        let at: Vec<&str> = oo["issue"].as_array().unwrap().iter().map(|i| i["expression"][0].as_str().unwrap()).collect();
        assert_eq!(at, [
            "QuestionnaireResponse.item[0].answer",
            "QuestionnaireResponse.item[0].answer[0].valueString",
            "QuestionnaireResponse.item[0].answer[1].valueString",
            "QuestionnaireResponse.item[1].linkId",
            "QuestionnaireResponse.item",
        ], "{oo}");
        app.get("QuestionnaireResponse/r2").await.expect(404);
        // An in-progress response need not answer the required items yet.
        let mut partial = response("r3", URL, json!([{"linkId": "plaats", "answer": [{"valueCoding": {"code": "x"}}]}]));
        partial["status"] = json!("in-progress");
        app.put_json("QuestionnaireResponse/r3", &partial).await.expect(201);
        // A response to another version than the one held is not checked against it.
        app.put_json("QuestionnaireResponse/r4", &response("r4", &format!("{URL}|1"), json!([{"linkId": "onbekend"}])))
            .await
            .expect(201);
    }

    async fn the_iknl_examples_answer_the_iknl_questionnaire(app) {
        let Some(files) = conformance_files(&["iknl/questionnaires"]) else {
            println!("skipped: shared/conformance is not beside this checkout");
            return;
        };
        let read = |f: &std::path::PathBuf| -> Value { serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap() };
        let mut all: Vec<Value> = files.iter().map(read).collect();
        // The Questionnaire first, so that the responses to its version are checked.
        all.sort_by_key(|r| r["resourceType"] != "Questionnaire");
        // The patients the responses are about, so that their records can be written.
        let mut subjects: Vec<&str> = all
            .iter()
            .filter_map(|r| r["subject"]["reference"].as_str()?.strip_prefix("Patient/"))
            .collect();
        subjects.sort_unstable();
        subjects.dedup();
        for id in subjects {
            app.register_patient(id).await;
        }
        for r in &all {
            let path = path_of(r);
            app.put_json(&path, r).await.expect(201);
        }
        // The checked one really was checked: breaking it is refused.
        let mut broken = all.iter().find(|r| r["id"] == "HendrikHartman-20221108").unwrap().clone();
        broken["item"][0]["linkId"] = json!("not-a-link");
        app.put_json("QuestionnaireResponse/HendrikHartman-20221108", &broken).await.expect(422);
    }
}
