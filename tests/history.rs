//! History at instance, type and system level: order, totals, `_since`, `_count` and paging
//! links that stay correct while new versions are written.

mod common;

use common::*;
use serde_json::{json, Value};

fn patient(id: &str, n: usize) -> Value {
    json!({ "resourceType": "Patient", "id": id, "name": [{ "family": format!("v{n}") }] })
}

/// Follows `next` links from `first`, returning every entry's (type/id, version).
async fn all_pages(app: &TestApp, first: &str) -> (Vec<(String, String)>, usize) {
    let mut seen = Vec::new();
    let mut url = app.url(first);
    let mut pages = 0;
    loop {
        let path = url
            .strip_prefix(&app.base)
            .expect("links point at this server")
            .to_string();
        let page = app.get(&path).await.expect(200).json();
        pages += 1;
        for e in page["entry"].as_array().unwrap() {
            let full = e["fullUrl"]
                .as_str()
                .unwrap()
                .strip_prefix(&format!("{}/", app.base))
                .unwrap()
                .to_string();
            seen.push((full, e["response"]["etag"].as_str().unwrap().to_string()));
        }
        let next = page["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next");
        match next {
            Some(l) => url = l["url"].as_str().unwrap().to_string(),
            None => return (seen, pages),
        }
    }
}

backend_tests! {
    async fn instance_history_lists_versions_newest_first(app) {
        for n in 1..=3 {
            app.put_json("Patient/p1", &patient("p1", n)).await;
        }
        app.put_json("Patient/other", &patient("other", 1)).await.expect(201);
        let h = app.get("Patient/p1/_history").await.expect(200).json();
        assert_eq!(h["resourceType"], "Bundle");
        assert_eq!(h["type"], "history");
        assert_eq!(h["total"], 3);
        let versions: Vec<&str> = h["entry"].as_array().unwrap().iter().map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap()).collect();
        assert_eq!(versions, ["3", "2", "1"]);
        let first = &h["entry"][2];
        assert_eq!(first["request"], json!({ "method": "PUT", "url": "Patient/p1" }));
        assert_eq!(first["response"]["status"], "201");
        assert_eq!(h["entry"][0]["response"]["status"], "200");
        assert_eq!(first["fullUrl"], app.url("Patient/p1"));
        let families: Vec<&str> = h["entry"].as_array().unwrap().iter()
            .map(|e| e["resource"]["name"][0]["family"].as_str().unwrap()).collect();
        assert_eq!(families, ["v3", "v2", "v1"]);

        // A deletion keeps the text of the version it ends, for history and vread.
        app.delete("Patient/p1").await.expect(200);
        let h = app.get("Patient/p1/_history").await.expect(200).json();
        assert_eq!(h["total"], 4);
        assert!(h["entry"][0].get("resource").is_none(), "{}", h["entry"][0]);
        assert_eq!(h["entry"][1]["resource"]["name"][0]["family"], "v3");
        assert_eq!(app.get("Patient/p1/_history/3").await.expect(200).json()["name"][0]["family"], "v3");
        app.get("Patient/p1/_history/4").await.expect(410);

        app.get("Patient/nope/_history").await.expect(404).issue();
        app.get("Foo/p1/_history").await.expect(404).issue();
    }

    async fn type_and_system_history(app) {
        app.put_json("Patient/p1", &patient("p1", 1)).await.expect(201);
        let created = app.post_json("Patient", &json!({"resourceType": "Patient"})).await.expect(201).json();
        app.put_json("Observation/o1", &json!({"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}})).await.expect(201);
        app.delete("Patient/p1").await.expect(200);

        let t = app.get("Patient/_history").await.expect(200).json();
        assert_eq!(t["total"], 3);
        let methods: Vec<&str> = t["entry"].as_array().unwrap().iter().map(|e| e["request"]["method"].as_str().unwrap()).collect();
        assert_eq!(methods, ["DELETE", "POST", "PUT"]);
        assert_eq!(t["entry"][1]["request"]["url"], "Patient");
        assert_eq!(t["entry"][1]["resource"]["id"], created["id"]);

        let s = app.get("_history").await.expect(200).json();
        assert_eq!(app.stored_versions().await, 4);
        // Newest first; each write is followed by the Provenance the server records for it.
        let types: Vec<&str> = s["entry"].as_array().unwrap().iter()
            .map(|e| e["request"]["url"].as_str().unwrap().split('/').next().unwrap())
            .collect();
        assert_eq!(types, ["Provenance", "Patient", "Provenance", "Observation", "Provenance", "Patient", "Provenance", "Patient"]);
        let xml = app.get("_history?_format=xml").await.expect(200).text();
        assert!(xml.contains("<Bundle") && xml.contains("<Observation"), "{xml}");
    }

    async fn since_filters_by_write_time(app) {
        app.put_json("Patient/p1", &patient("p1", 1)).await.expect(201);
        let first = app.get("Patient/p1").await.json()["meta"]["lastUpdated"].as_str().unwrap().to_string();
        actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
        let second = app.put_json("Patient/p1", &patient("p1", 2)).await.expect(200).json();
        let second_time = second["meta"]["lastUpdated"].as_str().unwrap().to_string();

        let all = app.get(&format!("Patient/p1/_history?_since={first}")).await.expect(200).json();
        assert_eq!(all["total"], 2);
        let later = app.get(&format!("Patient/p1/_history?_since={second_time}")).await.expect(200).json();
        assert_eq!(later["total"], 1);
        assert_eq!(later["entry"][0]["resource"]["meta"]["versionId"], "2");
        let none = app.get("_history?_since=2100-01-01T00:00:00%2B01:00").await.expect(200).json();
        assert_eq!(none["total"], 0);
        let unencoded_plus = app.get("Patient/_history?_since=2000-01-01T00:00:00+01:00").await.expect(200).json();
        assert_eq!(unencoded_plus["total"], 2);
        let day = app.get("Patient/_history?_since=2000-01-01").await.expect(200).json();
        assert_eq!(day["total"], 2);

        let (_, _, expr) = app.get("_history?_since=yesterday").await.expect(400).issue();
        assert_eq!(expr.as_deref(), Some("_since"));
        let (_, _, expr) = app.get("_history?_count=many").await.expect(400).issue();
        assert_eq!(expr.as_deref(), Some("_count"));
        app.get("_history?_cursor=x").await.expect(400).issue();
    }

    async fn paging_is_stable_under_concurrent_writes(app) {
        for i in 0..7 {
            app.put_json(&format!("Patient/p{i}"), &patient(&format!("p{i}"), 1)).await.expect(201);
        }
        let first = app.get("Patient/_history?_count=3&_format=json").await.expect(200).json();
        assert_eq!(first["entry"].as_array().unwrap().len(), 3);
        let next = first["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next").unwrap();
        let next_url = next["url"].as_str().unwrap();
        assert!(next_url.contains("_format=json") && next_url.contains("_count=3"), "{next_url}");

        // New versions written between pages appear neither twice nor shift the rest.
        app.put_json("Patient/late", &patient("late", 1)).await.expect(201);
        let (mut seen, _) = all_pages(&app, next_url.strip_prefix(&app.base).unwrap()).await;
        for e in first["entry"].as_array().unwrap() {
            seen.push((format!("Patient/{}", e["resource"]["id"].as_str().unwrap()), "W/\"1\"".into()));
        }
        seen.sort();
        let expected: Vec<(String, String)> = (0..7).map(|i| (format!("Patient/p{i}"), "W/\"1\"".to_string())).collect();
        assert_eq!(seen, expected);

        let (everything, pages) = all_pages(&app, "Patient/_history?_count=2").await;
        assert_eq!(everything.len(), 8);
        assert_eq!(pages, 4);
        let zero = app.get("Patient/_history?_count=0").await.expect(200).json();
        assert_eq!(zero["total"], 8);
        assert!(zero.get("entry").is_none_or(|e| e.as_array().unwrap().is_empty()));
    }
}
