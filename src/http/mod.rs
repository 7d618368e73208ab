//! The HTTP surface: routes, request logging, and the running server. FHIR base URL is the
//! server root (`/Patient/…`).

mod handlers;
mod logging;
mod negotiate;
pub mod openapi;
mod proxy;
mod respond;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Config;
use crate::store::Store;

/// What every handler can reach.
pub struct AppState {
    pub store: Arc<Store>,
    pub max_body_bytes: usize,
    /// Fixed public base URL; when `None` it is taken from each request's Host.
    pub base_url: Option<String>,
    /// When the server started, the CapabilityStatement's date.
    pub started_micros: i64,
    /// Checks bearer tokens.
    pub verifier: Arc<crate::auth::token::Verifier>,
    pub consent: crate::auth::policy::ConsentMode,
    /// Reverse proxies whose forwarded headers are believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub max_token_hours_user: u64,
    pub max_token_hours_system: u64,
}

/// The route table. `_history` paths come before `{id}` so they are not read as ids.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use handlers::*;
    cfg.service(
        web::resource("/")
            .route(web::post().to(transaction))
            .default_service(web::to(method_not_allowed)),
    )
    .route("/metadata", web::get().to(metadata))
    .route("/health", web::get().to(health))
    .route("/ready", web::get().to(ready))
    .service(
        web::resource("/_history")
            .route(web::get().to(history_system))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/{type}/_history")
            .route(web::get().to(history_type))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/{type}/_search")
            .route(web::post().to(search_post))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Patient/$pzp-summary")
            .route(web::get().to(pzp_summary_by_bsn))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Patient/{id}/$pzp-summary")
            .route(web::get().to(pzp_summary))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/{type}/$validate")
            .route(web::post().to(validate_type))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/{type}/{id}/$validate")
            .route(web::post().to(validate_instance))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/{type}/{id}/_history/{vid}")
            .route(web::get().to(vread))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/{type}/{id}/_history")
            .route(web::get().to(history_instance))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/{type}/{id}")
            .route(web::get().to(read))
            .route(web::put().to(update))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/{type}")
            .route(web::get().to(search))
            .route(web::post().to(create))
            .route(web::put().to(update_conditional))
            .route(web::delete().to(delete_conditional))
            .default_service(web::to(method_not_allowed)),
    );
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Opens the store (running migrations) and binds the listener.
    pub fn build(config: &Config) -> std::io::Result<Application> {
        crate::limits::set(config.limits.clone());
        let store = Store::open(
            &config.database_url,
            config.pool_size,
            config.limits.statement_timeout_ms,
        )
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        let published = crate::interaction::publish(&store).map_err(|e| {
            std::io::Error::other(format!("publishing the conformance package: {e}"))
        })?;
        tracing::info!(published, "conformance package up to date");
        let verifier =
            crate::auth::token::Verifier::from_config(config).map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(&config.bind)?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            store: Arc::new(store),
            max_body_bytes: config.max_body_bytes,
            base_url: config.base_url.clone(),
            started_micros: chrono::Utc::now().timestamp_micros(),
            verifier: Arc::new(verifier),
            consent: config.consent_mode,
            trusted_proxies: config.trusted_proxies.clone(),
            max_token_hours_user: config.max_token_hours_user,
            max_token_hours_system: config.max_token_hours_system,
        });
        tracing::info!(
            bind = %listener.local_addr()?,
            database = state.store.backend().name(),
            "pzp-fhir listening"
        );
        let api = openapi::ApiDoc::openapi();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(from_fn(logging::log_request))
                .route(
                    "/openapi.json",
                    web::get().to(|| async {
                        actix_web::HttpResponse::Ok().json(openapi::ApiDoc::openapi())
                    }),
                )
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api.clone()))
                .configure(routes)
                .default_service(web::to(handlers::not_found))
        })
        .listen(listener)?;
        if let Some(w) = config.workers {
            server = server.workers(w);
        }
        Ok(Application {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
