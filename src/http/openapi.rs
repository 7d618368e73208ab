//! The OpenAPI description of the REST surface, generated from the handlers' annotations and
//! committed as `openapi/openapi.json` (a test fails when that file is stale).

use super::handlers;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "pzp-fhir",
        description = "FHIR R4 API for the proactieve zorgplanning (advance care planning) record. \
                       Every resource is FHIR JSON (application/fhir+json) or XML (application/fhir+xml); \
                       errors are OperationOutcome resources."
    ),
    paths(
        handlers::metadata,
        handlers::create,
        handlers::search,
        handlers::search_post,
        handlers::read,
        handlers::update,
        handlers::patch,
        handlers::delete,
        handlers::update_conditional,
        handlers::delete_conditional,
        handlers::transaction,
        handlers::validate_type,
        handlers::validate_instance,
        handlers::vread,
        handlers::history_system,
        handlers::history_type,
        handlers::history_instance,
        handlers::pzp_summary_by_bsn,
        handlers::pzp_summary,
        handlers::health,
        handlers::ready,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// Every FHIR route needs a bearer JWT (see the README); `/metadata`, `/health` and `/ready`
/// are open.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "RS256/ES256 JWT with uzi, ura, pzp_role, scope (and bsn for a patient; purpose_of_use ETREAT with reason for emergency access)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The committed form of the document: pretty JSON with a final newline.
pub fn document() -> String {
    use utoipa::OpenApi;
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    text.push('\n');
    text
}
