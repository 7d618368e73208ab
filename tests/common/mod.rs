//! Test harness: starts the real server on a free port with a fresh database, and a small HTTP
//! client. `backend_tests!` runs each test on SQLite, and again on PostgreSQL when
//! `PZP_TEST_DATABASE_URL` is set (each test gets its own schema there).
#![allow(dead_code)]

use std::path::PathBuf;

use actix_web::http::{Method, StatusCode};
use awc::http::header::HeaderMap;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use pzp_fhir::auth::policy::ConsentMode;
use pzp_fhir::auth::token::{mint_claims, Claims};
use pzp_fhir::{Application, Config};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub db: Db,
    /// Versions in the store before the test wrote anything: the published conformance
    /// package.
    pub package_versions: u64,
    client: awc::Client,
    /// The token sent when a request names none: a trusted integration (`system`) of the
    /// organisation with URA [`OWN_URA`].
    pub token: String,
    dir: tempfile::TempDir,
}

/// The organisation the default token acts for.
pub const OWN_URA: &str = "00000000";

/// Settings a test may change before the server starts.
pub struct Options {
    pub max_body_bytes: usize,
    pub consent_mode: ConsentMode,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_body_bytes: 4 * 1024 * 1024,
            consent_mode: ConsentMode::Explicit,
        }
    }
}

fn postgres_url(base: &str) -> String {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = diesel::pg::PgConnection::establish(base)
        .unwrap_or_else(|e| panic!("PZP_TEST_DATABASE_URL is set but unreachable: {e}"));
    conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    // Without TLS on the local test server: a test binary exits with the pool's connections
    // still open, and OpenSSL's exit-time cleanup under a live TLS connection can crash it.
    let tls = if base.contains("sslmode=") {
        ""
    } else {
        "&sslmode=disable"
    };
    format!("{base}{sep}options=-csearch_path%3D{schema}{tls}")
}

/// Starts the app; `None` for PostgreSQL when no test database is configured.
pub async fn spawn_app_with(db: Db, options: Options) -> Option<TestApp> {
    let dir = tempfile::tempdir().unwrap();
    let database_url = match db {
        Db::Sqlite => format!("sqlite://{}", dir.path().join("pzp.sqlite").display()),
        Db::Postgres => postgres_url(&std::env::var("PZP_TEST_DATABASE_URL").ok()?),
    };
    let config = Config {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        database_url,
        max_body_bytes: options.max_body_bytes,
        pool_size: 4,
        base_url: None,
        workers: Some(1),
        consent_mode: options.consent_mode,
        ..Config::default()
    };
    let app = Application::build(&config).expect("the app starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    actix_rt::spawn(app.run_until_stopped());
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .finish();
    let token = mint_claims(
        dir.path(),
        &Claims {
            sub: Some("test-integration".into()),
            pzp_role: Some("system".into()),
            ura: Some(OWN_URA.into()),
            org_name: Some("Testorganisatie".into()),
            scope: Some("system/*.cruds".into()),
            ..Claims::default()
        },
    )
    .expect("a development token");
    let mut app = TestApp {
        base,
        db,
        package_versions: 0,
        client,
        token,
        dir,
    };
    app.package_versions = app.system_history_total().await;
    Some(app)
}

pub async fn spawn_app(db: Db) -> Option<TestApp> {
    spawn_app_with(db, Options::default()).await
}

/// An answer, fully read.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "answer ({}) is not JSON: {e}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|h| h.to_str().unwrap().to_string())
    }

    /// Asserts the status, showing the body when it differs.
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }

    /// The single issue of an OperationOutcome answer, as (code, diagnostics, expression).
    pub fn issue(&self) -> (String, String, Option<String>) {
        let oo = self.json();
        assert_eq!(
            oo["resourceType"], "OperationOutcome",
            "not an OperationOutcome: {oo}"
        );
        let i = &oo["issue"][0];
        (
            i["code"].as_str().unwrap().to_string(),
            i["diagnostics"].as_str().unwrap_or_default().to_string(),
            i["expression"][0].as_str().map(str::to_string),
        )
    }
}

pub const FHIR_JSON: &str = "application/fhir+json";
pub const FHIR_XML: &str = "application/fhir+xml";

impl TestApp {
    async fn system_history_total(&self) -> u64 {
        let h = self.get("_history?_count=0").await.expect(200).json();
        h["total"].as_u64().unwrap()
    }

    /// How many versions the test itself has written (the system history without the
    /// conformance package and without the Provenance the server adds to each write).
    pub async fn stored_versions(&self) -> u64 {
        let h = self
            .get("Provenance/_history?_count=0")
            .await
            .expect(200)
            .json();
        self.system_history_total().await - self.package_versions - h["total"].as_u64().unwrap()
    }

    /// Registers a bare Patient under `id`: a record is written only for a patient held here.
    pub async fn register_patient(&self, id: &str) {
        let patient = serde_json::json!({"resourceType": "Patient", "id": id});
        self.put_json(&format!("Patient/{id}"), &patient)
            .await
            .expect(201);
    }

    /// Stores each resource under its own id; each must be new.
    pub async fn put_all(&self, resources: Vec<Value>) {
        for r in resources {
            self.put_json(&path_of(&r), &r).await.expect(201);
        }
    }

    /// A token with these claims, signed with this server's development key (issuer,
    /// audience and expiry get defaults where unset).
    pub fn token_for(&self, claims: Claims) -> String {
        mint_claims(self.dir.path(), &claims).expect("a development token")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// Sends any request; `headers` are (name, value) pairs. Without an `Authorization`
    /// header it sends the default token; an empty `Authorization` value sends none.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        let authorization = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        match authorization {
            None => req = req.insert_header(("Authorization", format!("Bearer {}", self.token))),
            Some((_, "")) => {}
            Some((k, v)) => req = req.insert_header((*k, *v)),
        }
        for (k, v) in headers {
            if !k.eq_ignore_ascii_case("authorization") {
                req = req.insert_header((*k, *v));
            }
        }
        let mut res = match body {
            Some(b) => req.send_body(b).await,
            None => req.send().await,
        }
        .expect("the server answers");
        let body = res.body().limit(256 * 1024 * 1024).await.unwrap().to_vec();
        Resp {
            status: res.status(),
            headers: res.headers().clone(),
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, &[], None).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::GET, path, headers, None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.send(
            Method::POST,
            path,
            &[("Content-Type", FHIR_JSON)],
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Resp {
        self.send(
            Method::PUT,
            path,
            &[("Content-Type", FHIR_JSON)],
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn put_json_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Resp {
        let mut h = vec![("Content-Type", FHIR_JSON)];
        h.extend_from_slice(headers);
        self.send(Method::PUT, path, &h, Some(body.to_string().into_bytes()))
            .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, &[], None).await
    }
}

/// A resource's `Type/id`.
pub fn path_of(r: &Value) -> String {
    format!(
        "{}/{}",
        r["resourceType"].as_str().unwrap(),
        r["id"].as_str().unwrap()
    )
}

/// The `shared/conformance` fixtures beside the repository, if this checkout has them.
pub fn conformance_dir() -> Option<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .flat_map(|a| {
            [
                a.join("shared/conformance"),
                a.join("../shared/conformance"),
            ]
        })
        .find(|p| p.is_dir())
}

/// Every JSON file of the given folders below `shared/conformance`, sorted.
pub fn conformance_files(folders: &[&str]) -> Option<Vec<PathBuf>> {
    let root = conformance_dir()?;
    let mut files = Vec::new();
    for f in folders {
        for entry in std::fs::read_dir(root.join(f)).ok()? {
            let path = entry.ok()?.path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    sort_for_loading(&mut files);
    Some(files)
}

/// Orders example files for loading: by name, with Patients first (a record is written only
/// for a patient held here) and CareTeams last. Once a patient has a care
/// team only its members may add to the record, and the examples' teams do not name the test
/// organisation; it may still amend what it recorded itself.
pub fn sort_for_loading(files: &mut [PathBuf]) {
    files.sort_by_key(|f| {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        (
            !name.starts_with("Patient-"),
            name.starts_with("CareTeam-"),
            name,
        )
    });
}

/// Registers a bare Patient for every patient the resources refer to (`"reference":
/// "Patient/…"` anywhere) that is not among them: examples name patients the corpus leaves out.
pub async fn register_missing_patients(app: &TestApp, resources: &[Value]) {
    let held: Vec<&str> = resources
        .iter()
        .filter(|r| r["resourceType"] == "Patient")
        .filter_map(|r| r["id"].as_str())
        .collect();
    let mut missing = Vec::new();
    for r in resources {
        collect_patient_references(r, &mut missing);
    }
    missing.sort_unstable();
    missing.dedup();
    for id in missing.iter().filter(|id| !held.contains(&id.as_str())) {
        app.register_patient(id).await;
    }
}

fn collect_patient_references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(id) = map
                .get("reference")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("Patient/"))
            {
                if !id.contains('/') {
                    out.push(id.to_string());
                }
            }
            map.values()
                .for_each(|v| collect_patient_references(v, out));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| collect_patient_references(v, out)),
        _ => {}
    }
}

/// A resource without the server-assigned `meta.versionId`/`meta.lastUpdated` (and without
/// `meta` when nothing else was in it), for comparing what went in with what came out.
pub fn without_server_meta(mut v: Value) -> Value {
    if let Some(meta) = v.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        if meta.is_empty() {
            v.as_object_mut().unwrap().remove("meta");
        }
    }
    v
}

/// Defines each test twice: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[actix_rt::test]
                async fn sqlite() {
                    let $app = $crate::common::spawn_app($crate::common::Db::Sqlite).await.unwrap();
                    $body
                }

                #[actix_rt::test]
                async fn postgres() {
                    let Some($app) = $crate::common::spawn_app($crate::common::Db::Postgres).await else {
                        eprintln!("skipped: PZP_TEST_DATABASE_URL is not set");
                        return;
                    };
                    $body
                }
            }
        )*
    };
}
