//! One actix handler per FHIR interaction: negotiate, read headers and body, run the
//! interaction on a blocking thread, answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header::{self, HttpDate};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::Value;

use super::negotiate::{self, query_pairs, query_value, Output};
use super::respond::{self, Body};
use super::AppState;
use crate::auth::Principal;
use crate::capability;
use crate::error::{self, ErrorKind, FhirError};
use crate::interaction::{self, HistoryParams};
use crate::store::{HistoryScope, Version, Written};

type Answer = Result<HttpResponse, FhirError>;

/// Runs a handler body with the negotiated output format and renders its error, if any, in
/// that same format.
async fn answer(req: &HttpRequest, body: impl AsyncFnOnce(Output) -> Answer) -> HttpResponse {
    let out = match negotiate::output(req) {
        Ok(out) => out,
        Err(e) => return respond::error(&e, Output::default()),
    };
    match body(out).await {
        Ok(r) => r,
        Err(e) => respond::error(&e, out),
    }
}

/// The caller of a FHIR request, from its bearer token; 401 without a valid one. Checking
/// may fetch the identity provider's keys, so it runs off the async workers.
async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Principal, FhirError> {
    let unauthorized = |text: String| FhirError::new(ErrorKind::Unauthorized, "login", text);
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| unauthorized("this request needs 'Authorization: Bearer <token>'".into()))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <token>'".into()))?
        .to_string();
    let verifier = state.verifier.clone();
    let claims = blocking(move || {
        verifier
            .verify(&token)
            .map_err(|e| unauthorized(format!("the bearer token is not accepted: {}", e.0)))
    })
    .await?;
    let max_hours = match claims.pzp_role.as_deref() {
        Some("system") => state.max_token_hours_system,
        _ => state.max_token_hours_user,
    };
    crate::auth::token::check_lifetime(&claims, max_hours, chrono::Utc::now().timestamp())
        .map_err(|e| unauthorized(format!("the bearer token is not accepted: {}", e.0)))?;
    let mut who = Principal::from_claims(claims)?;
    who.address = super::proxy::client_address(req, &state.trusted_proxies);
    who.consent = state.consent;
    Ok(who)
}

/// Runs store work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FhirError> + Send + 'static,
) -> Result<T, FhirError> {
    web::block(f)
        .await
        .map_err(|_| FhirError::internal("the request was interrupted; nothing was changed"))?
}

fn base_url(req: &HttpRequest, state: &AppState) -> String {
    match &state.base_url {
        Some(b) => b.clone(),
        None => super::proxy::base_url(req, &state.trusted_proxies),
    }
}

fn http_date(micros: i64) -> HttpDate {
    HttpDate::from(UNIX_EPOCH + Duration::from_micros(micros.max(0) as u64))
}

fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The version number in an `If-Match`/`If-None-Match` value: `W/"3"`, `"3"` or `3`.
fn parse_etag(value: &str) -> Option<i64> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').parse().ok()
}

/// The search parameters of a conditional create (`If-None-Exist: identifier=...`).
fn if_none_exist(req: &HttpRequest) -> Option<Vec<(String, String)>> {
    let h = req.headers().get("if-none-exist")?.to_str().ok()?;
    let query = h.trim().trim_start_matches('?');
    Some(interaction::parse_query(query))
}

fn if_match(req: &HttpRequest) -> Result<Option<i64>, FhirError> {
    let Some(h) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = h.to_str().unwrap_or_default();
    parse_etag(text).map(Some).ok_or_else(|| {
        FhirError::bad_request(
            "value",
            format!("If-Match must be a version ETag such as W/\"3\", not '{text}'"),
        )
    })
}

/// What the client asked to get back after a write (`Prefer: return=…`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Return {
    Minimal,
    Representation,
    OperationOutcome,
}

fn prefer_return(req: &HttpRequest) -> Return {
    let prefer = req
        .headers()
        .get_all("prefer")
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .filter_map(|p| p.trim().strip_prefix("return="))
        .map(|v| v.trim().trim_matches('"').to_ascii_lowercase())
        .next();
    match prefer.as_deref() {
        Some("minimal") => Return::Minimal,
        Some("operationoutcome") => Return::OperationOutcome,
        _ => Return::Representation,
    }
}

/// Reads the request body up to the configured limit.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, FhirError> {
    let too_large = || {
        FhirError::new(
            ErrorKind::PayloadTooLarge,
            "too-long",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            FhirError::bad_request(
                "incomplete",
                format!("the request body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(FhirError::bad_request(
            "required",
            "the request body is empty",
        ));
    }
    Ok(body.freeze())
}

/// The body of a create or update, after checking the type in the URL and the Content-Type.
async fn resource_body(
    req: &HttpRequest,
    res_type: &str,
    payload: web::Payload,
    state: &AppState,
) -> Result<(web::Bytes, fhir_format::Format), FhirError> {
    interaction::check_type(res_type)?;
    let format = negotiate::input(req)?;
    Ok((read_body(req, payload, state.max_body_bytes).await?, format))
}

/// Parses and checks a resource body in the format its Content-Type names.
fn parse_resource(bytes: &[u8], format: fhir_format::Format) -> Result<Value, FhirError> {
    let limits = crate::limits::get().format();
    fhir_format::parse_with(bytes, format, &limits).map_err(FhirError::invalid_resource)
}

fn version_headers(builder: &mut actix_web::HttpResponseBuilder, v: &Version) {
    builder.insert_header((header::ETAG, etag(v.version)));
    builder.insert_header((header::LAST_MODIFIED, http_date(v.last_updated)));
}

fn stored_text(v: Version) -> Result<String, FhirError> {
    v.content
        .ok_or_else(|| FhirError::internal("a stored version has no content"))
}

/// Answers a successful create or update as the client preferred; an OperationOutcome
/// carries the warnings the write raised.
async fn written(
    req: &HttpRequest,
    state: &AppState,
    out: Output,
    w: Written,
    verb: &str,
) -> Answer {
    let v = w.version;
    let status = if w.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut builder = HttpResponse::build(status);
    version_headers(&mut builder, &v);
    builder.insert_header((
        header::LOCATION,
        format!(
            "{}/{}/{}/_history/{}",
            base_url(req, state),
            v.res_type,
            v.res_id,
            v.version
        ),
    ));
    let text = format!("{verb} {}/{} (version {})", v.res_type, v.res_id, v.version);
    Ok(match prefer_return(req) {
        Return::Minimal => builder.finish(),
        Return::OperationOutcome => {
            let store = state.store.clone();
            let version = v.clone();
            let mut issues = vec![error::issue(
                fhir_format::Severity::Information,
                "informational",
                text,
                None,
            )];
            issues.extend(blocking(move || interaction::warnings(&store, &version)).await?);
            respond::send(builder, Body::Value(error::operation_outcome(&issues)), out)
        }
        Return::Representation => respond::send(builder, Body::Text(stored_text(v)?), out),
    })
}

#[utoipa::path(post, path = "/{type}", tag = "FHIR REST",
    summary = "create: store a new resource under a server-assigned id",
    params(("type" = String, Path, description = "FHIR resource type, e.g. Patient"), ("_format" = Option<String>, Query, description = "json or xml; overrides Accept"), ("_pretty" = Option<bool>, Query, description = "Indent the answer")),
    request_body(content = Object, description = "A FHIR resource", content_type = "application/fhir+json"),
    responses((status = 201, description = "Created; Location, ETag and Last-Modified name the new version"),
        (status = 400, description = "Not a valid FHIR resource (OperationOutcome)"),
        (status = 404, description = "Unknown or unsupported resource type"),
        (status = 413, description = "Body larger than PZP_MAX_BODY_BYTES"),
        (status = 415, description = "Content-Type is not FHIR JSON or XML")))]
pub async fn create(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, async |out| {
        let res_type = path.into_inner();
        let condition = if_none_exist(&req);
        let (bytes, format) = resource_body(&req, &res_type, payload, &state).await?;
        let store = state.store.clone();
        let who = authenticate(&req, &state).await?;
        let base = base_url(&req, &state);
        let w = blocking(move || {
            let resource = parse_resource(&bytes, format)?;
            interaction::create(
                &store,
                &who,
                &res_type,
                &resource,
                condition.as_deref(),
                &base,
            )
        })
        .await?;
        let verb = if w.created {
            "created"
        } else {
            "found (not created)"
        };
        written(&req, &state, out, w, verb).await
    })
    .await
}

#[utoipa::path(put, path = "/{type}/{id}", tag = "FHIR REST",
    summary = "update: write a new version (or create with this id)",
    params(("type" = String, Path, description = "FHIR resource type, e.g. Patient"), ("id" = String, Path, description = "Logical id"), ("If-Match" = Option<String>, Header, description = "W/\"n\": only if n is the current version"), ("_format" = Option<String>, Query, description = "json or xml; overrides Accept"), ("_pretty" = Option<bool>, Query, description = "Indent the answer")),
    request_body(content = Object, description = "The resource, with the same id as the URL", content_type = "application/fhir+json"),
    responses((status = 200, description = "Updated"), (status = 201, description = "Created with the client's id"),
        (status = 400, description = "Invalid resource, or id/type differ from the URL"),
        (status = 412, description = "If-Match does not name the current version")))]
pub async fn update(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, async |out| {
        let (res_type, id) = path.into_inner();
        let expected = if_match(&req)?;
        let (bytes, format) = resource_body(&req, &res_type, payload, &state).await?;
        let store = state.store.clone();
        let who = authenticate(&req, &state).await?;
        let w = blocking(move || {
            let resource = parse_resource(&bytes, format)?;
            interaction::update(&store, &who, &res_type, &id, &resource, expected)
        })
        .await?;
        written(&req, &state, out, w, "updated").await
    })
    .await
}

#[utoipa::path(patch, path = "/{type}/{id}", tag = "FHIR REST",
    summary = "patch: apply a JSON Patch (RFC 6902) to the current version",
    params(("type" = String, Path, description = "FHIR resource type, e.g. Patient"), ("id" = String, Path, description = "Logical id"),
        ("If-Match" = Option<String>, Header, description = "W/\"n\": only if n is the current version"), ("_format" = Option<String>, Query, description = "json or xml; overrides Accept")),
    request_body(content = Object, description = "JSON Patch operations", content_type = "application/json-patch+json"),
    responses((status = 200, description = "Patched; the new version"), (status = 400, description = "Not a JSON Patch document"),
        (status = 404, description = "Never existed"), (status = 410, description = "Deleted"), (status = 412, description = "If-Match does not name the current version"),
        (status = 415, description = "Content-Type is not application/json-patch+json"),
        (status = 422, description = "The patch does not apply, or its result is not a valid resource")))]
pub async fn patch(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, async |out| {
        let (res_type, id) = path.into_inner();
        interaction::check_type(&res_type)?;
        negotiate::json_patch_input(&req)?;
        let expected = if_match(&req)?;
        let bytes = read_body(&req, payload, state.max_body_bytes).await?;
        let store = state.store.clone();
        let who = authenticate(&req, &state).await?;
        let w =
            blocking(move || interaction::patch(&store, &who, &res_type, &id, &bytes, expected))
                .await?;
        written(&req, &state, out, w, "patched").await
    })
    .await
}

/// `Prefer: handling=strict` turns ignored search parameters into errors.
fn strict_handling(req: &HttpRequest) -> bool {
    req.headers()
        .get_all("prefer")
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("handling=strict"))
}

async fn run_search(
    req: &HttpRequest,
    state: &AppState,
    res_type: String,
    params: Vec<(String, String)>,
    out: Output,
) -> Answer {
    let base = base_url(req, state);
    let strict = strict_handling(req);
    let store = state.store.clone();
    let who = authenticate(req, state).await?;
    let bundle =
        blocking(move || interaction::search(&store, &who, &res_type, &params, &base, strict))
            .await?;
    Ok(respond::send(HttpResponse::Ok(), Body::Value(bundle), out))
}

#[utoipa::path(get, path = "/{type}", tag = "FHIR REST",
    summary = "search: current resources matching every parameter (AND), comma-separated values OR-ed",
    params(("type" = String, Path, description = "FHIR resource type, e.g. Patient"),
        ("_count" = Option<u32>, Query, description = "Page size (default 50, at most 1000)"),
        ("_cursor" = Option<String>, Query, description = "Paging cursor from a next link"),
        ("_total" = Option<String>, Query, description = "accurate: count every match; none: leave out the total; absent or estimate: the total up to 1000 matches"),
        ("_format" = Option<String>, Query, description = "json or xml; overrides Accept"),
        ("Prefer" = Option<String>, Header, description = "handling=strict: unknown parameters are an error instead of ignored")),
    responses((status = 200, description = "A searchset Bundle"), (status = 400, description = "A parameter value is malformed, or unknown under handling=strict")))]
pub async fn search(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, async |out| {
        run_search(&req, &state, path.into_inner(), query_pairs(&req), out).await
    })
    .await
}

#[utoipa::path(post, path = "/{type}/_search", tag = "FHIR REST",
    summary = "search with the parameters in a form body (and the query string)",
    params(("type" = String, Path, description = "FHIR resource type, e.g. Patient")),
    request_body(content = String, description = "Search parameters", content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "A searchset Bundle"), (status = 415, description = "Body is not form-encoded")))]
pub async fn search_post(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, async |out| {
        let res_type = path.into_inner();
        interaction::check_type(&res_type)?;
        let form = negotiate::is_form(&req);
        let mut params = query_pairs(&req);
        let body = read_body(&req, payload, state.max_body_bytes).await;
        match (body, form) {
            (Ok(bytes), true) => params.extend(negotiate::form_pairs(&bytes)),
            (Ok(_), false) => {
                return Err(FhirError::new(
                    ErrorKind::UnsupportedMediaType,
                    "not-supported",
                    "POST _search takes application/x-www-form-urlencoded parameters",
                ))
            }
            // An empty body is fine: the parameters may all be in the query string.
            (Err(e), _) if e.kind == ErrorKind::BadRequest => {}
            (Err(e), _) => return Err(e),
        }
        run_search(&req, &state, res_type, params, out).await
    })
    .await
}

#[utoipa::path(get, path = "/{type}/{id}", tag = "FHIR REST",
    summary = "read: the current version",
    params(("type" = String, Path, description = "FHIR resource type, e.g. Patient"), ("id" = String, Path, description = "Logical id"), ("If-None-Match" = Option<String>, Header, description = "W/\"n\": 304 when unchanged"),
        ("If-Modified-Since" = Option<String>, Header, description = "HTTP date: 304 when not modified since"), ("_format" = Option<String>, Query, description = "json or xml; overrides Accept"), ("_pretty" = Option<bool>, Query, description = "Indent the answer")),
    responses((status = 200, description = "The resource", content_type = "application/fhir+json"), (status = 304, description = "Not modified"), (status = 404, description = "Never existed"), (status = 410, description = "Deleted")))]
pub async fn read(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, async |out| {
        let (res_type, id) = path.into_inner();
        let store = state.store.clone();
        let who = authenticate(&req, &state).await?;
        let v = blocking(move || interaction::read(&store, &who, &res_type, &id)).await?;
        if not_modified(&req, &v) {
            let mut builder = HttpResponse::build(StatusCode::NOT_MODIFIED);
            version_headers(&mut builder, &v);
            return Ok(builder.finish());
        }
        send_version(v, out)
    })
    .await
}

/// A stored version with its ETag and Last-Modified.
fn send_version(v: Version, out: Output) -> Answer {
    let mut builder = HttpResponse::Ok();
    version_headers(&mut builder, &v);
    Ok(respond::send(builder, Body::Text(stored_text(v)?), out))
}

/// `If-None-Match` (a version ETag or `*`) and `If-Modified-Since` on read.
fn not_modified(req: &HttpRequest, v: &Version) -> bool {
    if let Some(h) = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
    {
        return h
            .split(',')
            .any(|tag| tag.trim() == "*" || parse_etag(tag) == Some(v.version));
    }
    let since = req
        .headers()
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<HttpDate>().ok())
        .map(SystemTime::from);
    match since {
        Some(since) => {
            let modified_secs = v.last_updated.div_euclid(1_000_000);
            let since_secs = since
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            modified_secs <= since_secs
        }
        None => false,
    }
}

#[utoipa::path(get, path = "/{type}/{id}/_history/{vid}", tag = "FHIR REST",
    summary = "vread: one version",
    params(("type" = String, Path, description = "FHIR resource type, e.g. Patient"), ("id" = String, Path, description = "Logical id"), ("vid" = String, Path, description = "Version id"), ("_format" = Option<String>, Query, description = "json or xml; overrides Accept"), ("_pretty" = Option<bool>, Query, description = "Indent the answer")),
    responses((status = 200, description = "The resource", content_type = "application/fhir+json"), (status = 404, description = "No such version"), (status = 410, description = "That version is a deletion")))]
pub async fn vread(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, async |out| {
        let (res_type, id, vid) = path.into_inner();
        let store = state.store.clone();
        let who = authenticate(&req, &state).await?;
        let v = blocking(move || interaction::vread(&store, &who, &res_type, &id, &vid)).await?;
        send_version(v, out)
    })
    .await
}

#[utoipa::path(delete, path = "/{type}/{id}", tag = "FHIR REST",
    summary = "delete: logical delete; the history keeps every version",
    params(("type" = String, Path, description = "FHIR resource type, e.g. Patient"), ("id" = String, Path, description = "Logical id"), ("If-Match" = Option<String>, Header, description = "W/\"n\": only if n is the current version"), ("_format" = Option<String>, Query, description = "json or xml; overrides Accept"), ("_pretty" = Option<bool>, Query, description = "Indent the answer")),
    responses((status = 200, description = "Deleted (OperationOutcome)"), (status = 204, description = "Deleted, with Prefer: return=minimal"),
        (status = 412, description = "If-Match does not name the current version")))]
pub async fn delete(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, async |out| {
        let (res_type, id) = path.into_inner();
        let expected = if_match(&req)?;
        let store = state.store.clone();
        let who = authenticate(&req, &state).await?;
        let w =
            blocking(move || interaction::delete(&store, &who, &res_type, &id, expected)).await?;
        let v = &w.version;
        let gone = (!w.unchanged).then_some(v);
        let nothing = format!(
            "{}/{} does not exist or was already deleted; nothing changed",
            v.res_type, v.res_id
        );
        Ok(deleted(&req, out, gone, nothing))
    })
    .await
}

#[utoipa::path(put, path = "/{type}", tag = "FHIR REST",
    summary = "conditional update: update the one resource the query selects, or create it",
    params(("type" = String, Path, description = "FHIR resource type, e.g. Patient"), ("_format" = Option<String>, Query, description = "json or xml; overrides Accept")),
    request_body(content = Object, description = "The resource; an id, if present, must be the match's", content_type = "application/fhir+json"),
    responses((status = 200, description = "The match was updated"), (status = 201, description = "Nothing matched; created"),
        (status = 400, description = "No or unknown search parameters, or an invalid resource"),
        (status = 409, description = "Nothing matched and the body's id belongs to another resource"),
        (status = 412, description = "The query selects more than one resource")))]
pub async fn update_conditional(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, async |out| {
        let res_type = path.into_inner();
        let query = conditions(&req);
        let (bytes, format) = resource_body(&req, &res_type, payload, &state).await?;
        let store = state.store.clone();
        let who = authenticate(&req, &state).await?;
        let base = base_url(&req, &state);
        let w = blocking(move || {
            let resource = parse_resource(&bytes, format)?;
            interaction::update_conditional(&store, &who, &res_type, &query, &resource, &base)
        })
        .await?;
        let verb = if w.created { "created" } else { "updated" };
        written(&req, &state, out, w, verb).await
    })
    .await
}

#[utoipa::path(delete, path = "/{type}", tag = "FHIR REST",
    summary = "conditional delete: delete the one resource the query selects",
    params(("type" = String, Path, description = "FHIR resource type, e.g. Patient"), ("_format" = Option<String>, Query, description = "json or xml; overrides Accept")),
    responses((status = 200, description = "Deleted, or nothing matched (OperationOutcome)"), (status = 204, description = "With Prefer: return=minimal"),
        (status = 400, description = "No or unknown search parameters"),
        (status = 412, description = "The query selects more than one resource")))]
pub async fn delete_conditional(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, async |out| {
        let res_type = path.into_inner();
        let query = conditions(&req);
        let store = state.store.clone();
        let who = authenticate(&req, &state).await?;
        let base = base_url(&req, &state);
        let w = blocking(move || {
            interaction::delete_conditional(&store, &who, &res_type, &query, &base)
        })
        .await?;
        let nothing = "no resource meets the conditions; nothing changed".to_string();
        Ok(deleted(&req, out, w.as_ref().map(|w| &w.version), nothing))
    })
    .await
}

/// Answers a delete: the deleted version's ETag and an outcome that says what happened (or
/// `nothing` when nothing was deleted), or 204 with `Prefer: return=minimal`.
fn deleted(
    req: &HttpRequest,
    out: Output,
    gone: Option<&Version>,
    nothing: String,
) -> HttpResponse {
    if prefer_return(req) == Return::Minimal {
        return HttpResponse::NoContent().finish();
    }
    let mut builder = HttpResponse::Ok();
    let text = match gone {
        Some(v) => {
            builder.insert_header((header::ETAG, etag(v.version)));
            format!(
                "deleted {}/{} (version {})",
                v.res_type, v.res_id, v.version
            )
        }
        None => nothing,
    };
    respond::send(builder, Body::Value(error::information(text)), out)
}

/// A conditional interaction's search parameters: the query string without `_format` and
/// `_pretty`, which only steer the answer.
fn conditions(req: &HttpRequest) -> Vec<(String, String)> {
    query_pairs(req)
        .into_iter()
        .filter(|(k, _)| k != "_format" && k != "_pretty")
        .collect()
}

#[utoipa::path(post, path = "/", tag = "FHIR REST",
    summary = "transaction (all or nothing) or batch (each entry on its own) Bundle",
    params(("_format" = Option<String>, Query, description = "json or xml; overrides Accept"), ("_pretty" = Option<bool>, Query, description = "Indent the answer")),
    request_body(content = Object, description = "A Bundle of type transaction or batch", content_type = "application/fhir+json"),
    responses((status = 200, description = "A transaction-response or batch-response Bundle"),
        (status = 400, description = "Not a transaction or batch Bundle, or an entry is invalid (the OperationOutcome names it; nothing was stored)"),
        (status = 404, description = "A transaction entry refers to something that does not exist; nothing was stored"),
        (status = 412, description = "A transaction entry's condition failed; nothing was stored")))]
pub async fn transaction(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, async |out| {
        let format = negotiate::input(&req)?;
        let bytes = read_body(&req, payload, state.max_body_bytes).await?;
        let store = state.store.clone();
        let who = authenticate(&req, &state).await?;
        let base = base_url(&req, &state);
        let response = blocking(move || {
            let bundle = parse_resource(&bytes, format)?;
            interaction::bundle(&store, &who, &bundle, &base)
        })
        .await?;
        Ok(respond::send(
            HttpResponse::Ok(),
            Body::Value(response),
            out,
        ))
    })
    .await
}

#[utoipa::path(post, path = "/{type}/$validate", tag = "FHIR REST",
    summary = "$validate: check a resource against the profiles that apply to it (or a named one) without storing it",
    params(("type" = String, Path, description = "FHIR resource type"), ("profile" = Option<String>, Query, description = "Also check against this profile's canonical URL"), ("_format" = Option<String>, Query, description = "json or xml; overrides Accept")),
    request_body(content = Object, description = "The resource, or Parameters with 'resource' and 'profile'", content_type = "application/fhir+json"),
    responses((status = 200, description = "An OperationOutcome with every issue found (information 'no issues found' when valid)"),
        (status = 400, description = "Not a resource of this type, or an unknown profile")))]
pub async fn validate_type(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    run_validate(req, path.into_inner(), None, payload, state).await
}

#[utoipa::path(post, path = "/{type}/{id}/$validate", tag = "FHIR REST",
    summary = "$validate for an update of this resource",
    params(("type" = String, Path, description = "FHIR resource type"), ("id" = String, Path, description = "Logical id"), ("profile" = Option<String>, Query, description = "Also check against this profile's canonical URL")),
    request_body(content = Object, description = "The resource, or Parameters with 'resource' and 'profile'", content_type = "application/fhir+json"),
    responses((status = 200, description = "An OperationOutcome with every issue found")))]
pub async fn validate_instance(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (t, id) = path.into_inner();
    run_validate(req, t, Some(id), payload, state).await
}

async fn run_validate(
    req: HttpRequest,
    res_type: String,
    id: Option<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, async |out| {
        let profile = query_value(&query_pairs(&req), "profile").map(str::to_string);
        let (bytes, format) = resource_body(&req, &res_type, payload, &state).await?;
        let store = state.store.clone();
        let who = authenticate(&req, &state).await?;
        let limits = crate::limits::get().format();
        let outcome = blocking(
            move || match fhir_format::parse_with(&bytes, format, &limits) {
                // A structural problem is a validation result too.
                Err(issues) => Ok(error::operation_outcome(&issues)),
                Ok(body) => interaction::validate(
                    &store,
                    &who,
                    &res_type,
                    id.as_deref(),
                    &body,
                    profile.as_deref(),
                ),
            },
        )
        .await?;
        Ok(respond::send(HttpResponse::Ok(), Body::Value(outcome), out))
    })
    .await
}

fn history_params(req: &HttpRequest) -> HistoryParams {
    let pairs = query_pairs(req);
    let get = |name: &str| query_value(&pairs, name).map(str::to_string);
    HistoryParams {
        count: get("_count"),
        since: get("_since"),
        cursor: get("_cursor"),
        passthrough: pairs
            .iter()
            .filter(|(k, _)| k == "_format" || k == "_pretty")
            .cloned()
            .collect(),
    }
}

async fn history(
    req: HttpRequest,
    scope: HistoryScope,
    state: web::Data<AppState>,
) -> HttpResponse {
    answer(&req, async |out| {
        let params = history_params(&req);
        let base = base_url(&req, &state);
        let store = state.store.clone();
        let who = authenticate(&req, &state).await?;
        let bundle =
            blocking(move || interaction::history(&store, &who, scope, &params, &base)).await?;
        Ok(respond::send(HttpResponse::Ok(), Body::Value(bundle), out))
    })
    .await
}

#[utoipa::path(get, path = "/_history", tag = "FHIR REST",
    summary = "history of every resource, newest first",
    params(("_count" = Option<u32>, Query, description = "Page size (default 50, at most 1000)"),
        ("_since" = Option<String>, Query, description = "Only versions written at or after this instant"),
        ("_cursor" = Option<String>, Query, description = "Paging cursor from a next link"), ("_format" = Option<String>, Query, description = "json or xml; overrides Accept"), ("_pretty" = Option<bool>, Query, description = "Indent the answer")),
    responses((status = 200, description = "A history Bundle")))]
pub async fn history_system(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    history(req, HistoryScope::System, state).await
}

#[utoipa::path(get, path = "/{type}/_history", tag = "FHIR REST",
    summary = "history of one resource type, newest first",
    params(("type" = String, Path, description = "FHIR resource type, e.g. Patient"), ("_count" = Option<u32>, Query, description = "Page size"), ("_since" = Option<String>, Query, description = "Only versions written at or after this instant"),
        ("_cursor" = Option<String>, Query, description = "Paging cursor from a next link"), ("_format" = Option<String>, Query, description = "json or xml; overrides Accept"), ("_pretty" = Option<bool>, Query, description = "Indent the answer")),
    responses((status = 200, description = "A history Bundle")))]
pub async fn history_type(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    history(req, HistoryScope::Type(path.into_inner()), state).await
}

#[utoipa::path(get, path = "/{type}/{id}/_history", tag = "FHIR REST",
    summary = "history of one resource, deletions included",
    params(("type" = String, Path, description = "FHIR resource type, e.g. Patient"), ("id" = String, Path, description = "Logical id"), ("_count" = Option<u32>, Query, description = "Page size"), ("_since" = Option<String>, Query, description = "Only versions written at or after this instant"),
        ("_cursor" = Option<String>, Query, description = "Paging cursor from a next link"), ("_format" = Option<String>, Query, description = "json or xml; overrides Accept"), ("_pretty" = Option<bool>, Query, description = "Indent the answer")),
    responses((status = 200, description = "A history Bundle"), (status = 404, description = "Never existed")))]
pub async fn history_instance(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (t, id) = path.into_inner();
    history(req, HistoryScope::Instance(t, id), state).await
}

#[utoipa::path(get, path = "/metadata", tag = "FHIR REST",
    summary = "the CapabilityStatement, generated from what the server supports",
    params(("_format" = Option<String>, Query, description = "json or xml; overrides Accept"), ("_pretty" = Option<bool>, Query, description = "Indent the answer")), responses((status = 200, description = "CapabilityStatement")))]
pub async fn metadata(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(&req, async |out| {
        let date = interaction::format_instant(state.started_micros);
        let cs = capability::capability_statement(&base_url(&req, &state), &date);
        Ok(respond::send(HttpResponse::Ok(), Body::Value(cs), out))
    })
    .await
}

#[utoipa::path(get, path = "/health", tag = "Operations", summary = "the process is alive",
    responses((status = 200, description = "Alive")))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/ready", tag = "Operations", summary = "the database answers",
    responses((status = 200, description = "Ready"), (status = 503, description = "Database unreachable")))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    let backend = store.backend().name();
    match web::block(move || store.ping()).await {
        Ok(Ok(())) => {
            HttpResponse::Ok().json(serde_json::json!({ "status": "ready", "database": backend }))
        }
        _ => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "unavailable", "database": backend })),
    }
}

/// A known path with a method it does not take.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    answer(&req, async |_| {
        Err(FhirError::new(
            ErrorKind::MethodNotAllowed,
            "not-supported",
            format!("{} is not supported on {}", req.method(), req.path()),
        ))
    })
    .await
}

/// Any path that is not part of the FHIR API.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    answer(&req, async |_| {
        Err(FhirError::not_found(format!(
            "there is nothing at {}",
            req.path()
        )))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::parse_etag;

    #[test]
    fn etags_in_all_common_spellings() {
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag("\"12\""), Some(12));
        assert_eq!(parse_etag("7"), Some(7));
        assert_eq!(parse_etag("W/\"x\""), None);
    }
}

#[utoipa::path(get, path = "/Patient/$pzp-summary", tag = "PZP",
    summary = "$pzp-summary by BSN: the current plan of one patient in one call (document Bundle, or the printable plan with _format=html)",
    params(("identifier" = String, Query, description = "http://fhir.nl/fhir/NamingSystem/bsn|<BSN>"),
        ("_format" = Option<String>, Query, description = "json, xml or html")),
    responses((status = 200, description = "A document Bundle (Composition first), or text/html"),
        (status = 400, description = "No BSN identifier given"), (status = 404, description = "No patient with this BSN is visible to the caller")))]
pub async fn pzp_summary_by_bsn(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let identifier = query_value(&query_pairs(&req), "identifier").map(str::to_string);
    let target = match identifier.as_deref().and_then(|i| i.split_once('|')) {
        Some((crate::auth::BSN, bsn)) if !bsn.is_empty() => {
            Ok(interaction::SummaryTarget::Bsn(bsn.to_string()))
        }
        _ => Err(FhirError::bad_request(
            "required",
            "give the patient as identifier=http://fhir.nl/fhir/NamingSystem/bsn|<BSN>",
        )
        .at("identifier")),
    };
    summary(req, state, target).await
}

#[utoipa::path(get, path = "/Patient/{id}/$pzp-summary", tag = "PZP",
    summary = "$pzp-summary of one patient by id",
    params(("id" = String, Path, description = "The Patient's logical id"),
        ("_format" = Option<String>, Query, description = "json, xml or html")),
    responses((status = 200, description = "A document Bundle (Composition first), or text/html"),
        (status = 404, description = "Not visible to the caller")))]
pub async fn pzp_summary(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let target = interaction::SummaryTarget::Id(path.into_inner());
    summary(req, state, Ok(target)).await
}

/// Answers a summary as a FHIR document, or as the printable page.
async fn summary(
    req: HttpRequest,
    state: web::Data<AppState>,
    target: Result<interaction::SummaryTarget, FhirError>,
) -> HttpResponse {
    let now = interaction::format_instant(chrono::Utc::now().timestamp_micros());
    if negotiate::wants_html(&req) {
        let made = async {
            let target = target?;
            let store = state.store.clone();
            let who = authenticate(&req, &state).await?;
            blocking(move || interaction::pzp_summary(&store, &who, &target)).await
        };
        return match made.await {
            Ok(s) => HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
                .body(s.html(&now[..10])),
            Err(e) => respond::error(&e, Output::default()),
        };
    }
    answer(&req, async |out| {
        let target = target?;
        let store = state.store.clone();
        let who = authenticate(&req, &state).await?;
        let base = base_url(&req, &state);
        let s = blocking(move || interaction::pzp_summary(&store, &who, &target)).await?;
        let document = s.document(&base, &now);
        Ok(respond::send(
            HttpResponse::Ok(),
            Body::Value(document),
            out,
        ))
    })
    .await
}
