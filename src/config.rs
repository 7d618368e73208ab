//! Settings from the environment, with defaults that run the service on a fresh clone.

use std::path::PathBuf;

/// Everything the service is configured with.
#[derive(Clone, Debug)]
pub struct Config {
    /// `PZP_BIND`: where to listen (host:port).
    pub bind: String,
    /// `PZP_DATA_DIR`: holds the SQLite file unless `PZP_DATABASE_URL` points elsewhere.
    pub data_dir: PathBuf,
    /// `PZP_DATABASE_URL`: `postgres://…` or `sqlite://path`.
    pub database_url: String,
    /// `PZP_MAX_BODY_BYTES`: larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// `PZP_DB_POOL_SIZE`: database connections kept open.
    pub pool_size: u32,
    /// `PZP_BASE_URL`: the public base URL used in links; taken from each request's Host when unset.
    pub base_url: Option<String>,
    /// `PZP_WORKERS`: HTTP worker threads; one per core when unset.
    pub workers: Option<usize>,
    /// `PZP_JWKS_FILE`: the identity provider's public keys (JWKS) in a file. With this or
    /// `PZP_JWKS_URL` set, only tokens of that provider are accepted; without either, those of
    /// the development key in `data_dir`.
    pub jwks_file: Option<PathBuf>,
    /// `PZP_JWKS_URL`: where to fetch the identity provider's JWKS (https; reloaded when a
    /// token names an unknown key).
    pub jwks_url: Option<String>,
    /// `PZP_TOKEN_ISSUER`: the `iss` tokens must carry; required with a JWKS.
    pub token_issuer: Option<String>,
    /// `PZP_TOKEN_AUDIENCE`: the `aud` tokens must be meant for; required with a JWKS.
    pub token_audience: Option<String>,
    /// `PZP_CONSENT_MODE`: `explicit` (default) or `implied`; see `auth::policy::ConsentMode`.
    pub consent_mode: crate::auth::policy::ConsentMode,
    /// `PZP_TRUSTED_PROXIES`: comma-separated addresses of reverse proxies whose
    /// `Forwarded`/`X-Forwarded-*` headers are believed (the caller's address in the audit
    /// trail, the host and scheme of links). Empty: no client header is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `PZP_MAX_TOKEN_HOURS_USER` / `PZP_MAX_TOKEN_HOURS_SYSTEM`: the longest a token may be
    /// valid (from `iat`, or from now without one) for a person and for a system.
    pub max_token_hours_user: u64,
    pub max_token_hours_system: u64,
    /// Bounds on the work of one request (`PZP_MAX_*`, `PZP_STATEMENT_TIMEOUT_MS`).
    pub limits: crate::limits::Limits,
}

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Large enough for an advance directive with its scanned PDF embedded.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_POOL_SIZE: u32 = 10;
/// A working shift for a person's token; a day for an integration's.
pub const DEFAULT_MAX_TOKEN_HOURS_USER: u64 = 10;
pub const DEFAULT_MAX_TOKEN_HOURS_SYSTEM: u64 = 24;

impl Config {
    /// Reads the `PZP_*` variables; a malformed number is an error, not a silent default.
    pub fn from_env() -> Result<Config, String> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// The configuration of the variables `lookup` gives; blank values count as unset.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let data_dir =
            PathBuf::from(var("PZP_DATA_DIR").unwrap_or_else(|| DEFAULT_DATA_DIR.into()));
        let database_url = var("PZP_DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("pzp.sqlite").display()));
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name} must be a whole number, got '{v}'")),
            }
        };
        Ok(Config {
            bind: var("PZP_BIND").unwrap_or_else(|| DEFAULT_BIND.into()),
            data_dir,
            database_url,
            max_body_bytes: number("PZP_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES as u64)? as usize,
            pool_size: number("PZP_DB_POOL_SIZE", DEFAULT_POOL_SIZE as u64)? as u32,
            base_url: var("PZP_BASE_URL").map(|b| b.trim_end_matches('/').to_string()),
            workers: var("PZP_WORKERS")
                .map(|_| number("PZP_WORKERS", 0))
                .transpose()?
                .map(|w| w as usize),
            jwks_file: var("PZP_JWKS_FILE").map(PathBuf::from),
            jwks_url: var("PZP_JWKS_URL").map(|u| u.trim().to_string()),
            token_issuer: var("PZP_TOKEN_ISSUER").map(|i| i.trim().to_string()),
            token_audience: var("PZP_TOKEN_AUDIENCE").map(|a| a.trim().to_string()),
            consent_mode: match var("PZP_CONSENT_MODE") {
                None => Default::default(),
                Some(m) => crate::auth::policy::ConsentMode::parse(m.trim()).ok_or_else(|| {
                    format!("PZP_CONSENT_MODE must be 'explicit' or 'implied', got '{m}'")
                })?,
            },
            trusted_proxies: match var("PZP_TRUSTED_PROXIES") {
                None => Vec::new(),
                Some(list) => list
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(|a| {
                        a.parse().map_err(|_| {
                            format!("PZP_TRUSTED_PROXIES must list IP addresses, got '{a}'")
                        })
                    })
                    .collect::<Result<_, _>>()?,
            },
            max_token_hours_user: number("PZP_MAX_TOKEN_HOURS_USER", DEFAULT_MAX_TOKEN_HOURS_USER)?,
            max_token_hours_system: number(
                "PZP_MAX_TOKEN_HOURS_SYSTEM",
                DEFAULT_MAX_TOKEN_HOURS_SYSTEM,
            )?,
            limits: crate::limits::Limits::from_vars(var)?,
        })
    }

    /// Whether tokens come from an identity provider (a JWKS is configured) rather than from
    /// the development key.
    pub fn uses_jwks(&self) -> bool {
        self.jwks_file.is_some() || self.jwks_url.is_some()
    }
}

/// What `from_env` gives with no `PZP_*` variable set; tests start from it so that they keep
/// compiling when settings are added.
impl Default for Config {
    fn default() -> Config {
        Config::from_vars(|_| None).expect("the defaults are valid")
    }
}
