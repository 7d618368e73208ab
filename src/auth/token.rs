//! Bearer tokens: verification of JWTs (RS256/ES256 against a JWKS, or the development key)
//! and minting with the development key for local use.
//!
//! Production points the server at its identity provider's JWKS (`PZP_JWKS_FILE` or
//! `PZP_JWKS_URL`) and names the issuer and audience it must see. Without those settings the
//! server trusts only its own development key, kept in the data directory, so that a fresh clone
//! can be used with tokens from `pzp-fhir token` and without an identity provider.

use std::collections::HashMap;
use std::fs;
use std::io::{ErrorKind as IoErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde_json::Value;

use crate::config::Config;

/// Issuer of the tokens signed with the development key.
pub const DEV_ISSUER: &str = "pzp-fhir-dev";
/// Audience of the tokens signed with the development key.
pub const DEV_AUDIENCE: &str = "pzp-fhir";
/// Key id in the header of tokens signed with the development key.
pub const DEV_KID: &str = "dev";
/// The development key's file in the data directory (PKCS#8 PEM, readable by the owner only).
pub const DEV_KEY_FILE: &str = "dev-signing-key.pem";

/// The organisation a development token speaks for when no `--ura` is given.
pub const DEV_URA: &str = "00000000";
pub const DEV_ORG_NAME: &str = "Lokale organisatie";

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 60;
/// An unknown `kid` reloads the key set at most this often, so that junk tokens cannot make
/// the server hammer its identity provider.
const RELOAD_INTERVAL: Duration = Duration::from_secs(60);
/// A JWKS fetch that takes longer than this is given up (verification waits on it).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_MINUTES: i64 = 60;
/// Development tokens live at most a year; longer is a mistake rather than a wish.
const MAX_MINUTES: i64 = 366 * 24 * 60;

/// The claims this server reads from a verified token.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// A string or an array of strings, as RFC 7519 allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The person: UZI number, and optionally BIG and AGB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uzi: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub big: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agb: Option<String>,
    /// The person's name, for the audit trail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The organisation: URA, and optionally its AGB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ura: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_agb: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pzp_role: Option<String>,
    /// For a patient: their BSN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bsn: Option<String>,
    /// SMART v2 scopes, space separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Purpose of use (`ETREAT` for emergency access) and the reason given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose_of_use: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why a token was refused; the text goes into the 401 OperationOutcome.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenError(pub String);

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TokenError {}

fn refuse<T>(text: impl Into<String>) -> Result<T, TokenError> {
    Err(TokenError(text.into()))
}

/// What `pzp-fhir token` puts in a development token.
#[derive(Clone, Debug, Default)]
pub struct MintOptions {
    pub role: Option<String>,
    pub uzi: Option<String>,
    pub ura: Option<String>,
    pub bsn: Option<String>,
    pub scope: Option<String>,
    pub purpose: Option<String>,
    pub reason: Option<String>,
    pub minutes: Option<i64>,
}

/// Refuses a token valid for longer than `max_hours` (from `iat`, or from `now` without one):
/// a leaked long-lived token would open the records for that long.
pub fn check_lifetime(claims: &Claims, max_hours: u64, now: i64) -> Result<(), TokenError> {
    let from = claims.iat.unwrap_or(now).min(now);
    let lifetime = claims.exp.unwrap_or(i64::MAX).saturating_sub(from);
    let max = i64::try_from(max_hours.saturating_mul(3600)).unwrap_or(i64::MAX);
    if lifetime > max + LEEWAY_SECONDS as i64 {
        return Err(TokenError(format!(
            "it is valid for longer than the {max_hours} hours this server accepts for a token of this kind"
        )));
    }
    Ok(())
}

/// Verifies bearer tokens.
pub struct Verifier {
    issuer: String,
    audience: String,
    keys: KeySet,
    verified: Mutex<HashMap<String, Verified>>,
}

/// A token whose signature and claims were checked, kept so that a client sending the same
/// token with every request pays for the signature check (most of a read's CPU time) once.
struct Verified {
    claims: Claims,
    at: Instant,
}

/// How long a checked token is trusted without checking again; short, so that a key removed
/// from the JWKS stops being accepted soon.
const VERIFIED_FOR: Duration = Duration::from_secs(60);
/// How many checked tokens are kept at most; the whole set is dropped when it is full.
const VERIFIED_MAX: usize = 10_000;

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.keys.source {
            Source::Development => "development key".to_string(),
            Source::File(path) => path.display().to_string(),
            Source::Url { url, .. } => url.clone(),
        };
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &source)
            .finish()
    }
}

/// Where the trusted public keys come from.
enum Source {
    /// The development key only; never reloaded.
    Development,
    File(PathBuf),
    Url {
        url: String,
        agent: ureq::Agent,
    },
}

/// The trusted keys, reloaded from their source when a token names a key not seen yet.
struct KeySet {
    source: Source,
    cache: Mutex<Cache>,
}

struct Cache {
    keys: Vec<Jwk>,
    /// When the source was last read, successfully or not.
    loaded_at: Option<Instant>,
}

impl Verifier {
    /// The verifier the configuration asks for: the identity provider's JWKS when
    /// `PZP_JWKS_FILE` or `PZP_JWKS_URL` is set, the development key otherwise.
    pub fn from_config(config: &Config) -> Result<Verifier, String> {
        let source = match (&config.jwks_file, &config.jwks_url) {
            (None, None) => return Verifier::development(&config.data_dir),
            (Some(_), Some(_)) => {
                return Err("set either PZP_JWKS_FILE or PZP_JWKS_URL, not both".into())
            }
            (Some(file), None) => Source::File(file.clone()),
            (None, Some(url)) => {
                check_jwks_url(url)?;
                let agent = ureq::Agent::config_builder()
                    .timeout_global(Some(FETCH_TIMEOUT))
                    .build()
                    .into();
                Source::Url {
                    url: url.clone(),
                    agent,
                }
            }
        };
        let (issuer, audience) = match (&config.token_issuer, &config.token_audience) {
            (Some(issuer), Some(audience)) => (issuer.clone(), audience.clone()),
            _ => {
                let missing = [
                    ("PZP_TOKEN_ISSUER", config.token_issuer.is_none()),
                    ("PZP_TOKEN_AUDIENCE", config.token_audience.is_none()),
                ]
                .iter()
                .filter(|(_, missing)| *missing)
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(" and ");
                return Err(format!(
                    "PZP_TOKEN_ISSUER and PZP_TOKEN_AUDIENCE are both required when \
                     PZP_JWKS_FILE or PZP_JWKS_URL is set; missing: {missing}"
                ));
            }
        };
        let keys = match source.load() {
            Ok(keys) => keys,
            // A misconfigured file is found now; an identity provider that is down at start
            // is tried again when the first token arrives.
            Err(e) if matches!(source, Source::File(_)) => return Err(e),
            Err(e) => {
                tracing::warn!("{e}; trying again when a token arrives");
                Vec::new()
            }
        };
        Ok(Verifier {
            issuer,
            audience,
            keys: KeySet {
                source,
                cache: Mutex::new(Cache {
                    keys,
                    loaded_at: Some(Instant::now()),
                }),
            },
            verified: Mutex::default(),
        })
    }

    fn development(data_dir: &Path) -> Result<Verifier, String> {
        let key = dev_key(data_dir)?;
        tracing::warn!(
            "no PZP_JWKS_FILE or PZP_JWKS_URL: accepting tokens signed by the development key in \
             {}; do not use this in production",
            data_dir.join(DEV_KEY_FILE).display()
        );
        Ok(Verifier {
            issuer: DEV_ISSUER.into(),
            audience: DEV_AUDIENCE.into(),
            keys: KeySet {
                source: Source::Development,
                cache: Mutex::new(Cache {
                    keys: vec![ec_public_jwk(&key, DEV_KID)],
                    loaded_at: None,
                }),
            },
            verified: Mutex::default(),
        })
    }

    /// Whether this verifier trusts the development key (and nothing else).
    pub fn is_development(&self) -> bool {
        matches!(self.keys.source, Source::Development)
    }

    /// The claims of a token that is signed by a trusted key with an accepted algorithm, issued
    /// by the configured issuer for the configured audience, and valid now.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let valid_now = |c: &Claims| {
            c.exp.is_some_and(|exp| now <= exp + LEEWAY_SECONDS as i64)
                && c.nbf.is_none_or(|nbf| nbf <= now + LEEWAY_SECONDS as i64)
        };
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = verified.get(token) {
            if v.at.elapsed() < VERIFIED_FOR && valid_now(&v.claims) {
                return Ok(v.claims.clone());
            }
            verified.remove(token);
        }
        drop(verified);
        let claims = self.check(token)?;
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_MAX {
            verified.clear();
        }
        verified.insert(
            token.to_string(),
            Verified {
                claims: claims.clone(),
                at: Instant::now(),
            },
        );
        Ok(claims)
    }

    /// [`Self::verify`] without the cache: the signature and every claim.
    fn check(&self, token: &str) -> Result<Claims, TokenError> {
        let (alg, kid) = read_header(token)?;
        let jwk = self.keys.find(kid.as_deref())?;
        check_key_fits(&jwk, alg, kid.as_deref())?;
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|_| TokenError("the token's signing key is not usable".into()))?;
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError(explain(e.kind())))
    }
}

/// JWKS over plain HTTP would let anyone on the path swap in their own keys; only the local
/// machine is exempt (an identity provider in a sidecar, and tests).
fn check_jwks_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        let loopback = host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
        if loopback || host.eq_ignore_ascii_case("localhost") {
            return Ok(());
        }
    }
    Err(format!(
        "PZP_JWKS_URL must be an https:// URL (plain http only for localhost), got '{url}'"
    ))
}

impl Source {
    /// The keys of the source; keys this server cannot read (e.g. encryption keys of an
    /// algorithm unknown here) are left out rather than failing the whole set.
    fn load(&self) -> Result<Vec<Jwk>, String> {
        let (text, origin) = match self {
            Source::Development => return Ok(Vec::new()),
            Source::File(path) => (
                fs::read_to_string(path)
                    .map_err(|e| format!("cannot read the JWKS file {}: {e}", path.display()))?,
                path.display().to_string(),
            ),
            Source::Url { url, agent } => (
                agent
                    .get(url)
                    .header("Accept", "application/json")
                    .call()
                    .and_then(|mut response| response.body_mut().read_to_string())
                    .map_err(|e| format!("cannot fetch the JWKS from {url}: {e}"))?,
                url.clone(),
            ),
        };
        let set: Value = serde_json::from_str(&text)
            .map_err(|e| format!("the JWKS from {origin} is not JSON: {e}"))?;
        let Some(entries) = set.get("keys").and_then(Value::as_array) else {
            return Err(format!("the JWKS from {origin} has no \"keys\" array"));
        };
        Ok(entries
            .iter()
            .filter_map(|entry| match serde_json::from_value::<Jwk>(entry.clone()) {
                Ok(jwk) => Some(jwk),
                Err(e) => {
                    tracing::debug!("skipping a key of the JWKS from {origin}: {e}");
                    None
                }
            })
            .collect())
    }
}

impl KeySet {
    /// The key a token names, reloading the source once when it is not known (yet).
    fn find(&self, kid: Option<&str>) -> Result<Jwk, TokenError> {
        let due = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(jwk) = pick(&cache.keys, kid)? {
                return Ok(jwk);
            }
            let due = !matches!(self.source, Source::Development)
                && cache
                    .loaded_at
                    .is_none_or(|at| at.elapsed() >= RELOAD_INTERVAL);
            if due {
                // Claimed before loading, so that concurrent requests do not load as well.
                cache.loaded_at = Some(Instant::now());
            }
            due
        };
        if due {
            match self.source.load() {
                Ok(keys) => {
                    let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                    cache.keys = keys;
                    if let Some(jwk) = pick(&cache.keys, kid)? {
                        return Ok(jwk);
                    }
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
        match kid {
            Some(kid) => refuse(format!("the token's signing key '{kid}' is not known here")),
            None => refuse("the token names no signing key (kid) and none can be chosen"),
        }
    }
}

/// The key with the token's `kid`; a token without `kid` only fits a set of one key.
fn pick(keys: &[Jwk], kid: Option<&str>) -> Result<Option<Jwk>, TokenError> {
    Ok(match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid))
            .cloned(),
        None if keys.len() == 1 => Some(keys[0].clone()),
        None if keys.is_empty() => None,
        None => return refuse("the token names no signing key (kid); the key set has several"),
    })
}

/// The accepted algorithm and the key id of a token's header, read before any key is touched:
/// `none`, HMAC and everything else outside RS256/ES256 stop here.
fn read_header(token: &str) -> Result<(Algorithm, Option<String>), TokenError> {
    const MALFORMED: &str = "the token is not a well-formed signed JWT";
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return refuse(MALFORMED);
    }
    let header: Value = URL_SAFE_NO_PAD
        .decode(parts[0])
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .filter(Value::is_object)
        .ok_or_else(|| TokenError(MALFORMED.into()))?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.as_str(),
        _ => return refuse("the token's header names no algorithm (alg)"),
    };
    let alg = match alg {
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        other => {
            return refuse(format!(
                "the token's algorithm {other} is not accepted; use RS256 or ES256"
            ))
        }
    };
    // RFC 7515: extensions marked critical that the receiver does not know must be refused.
    if header.get("crit").is_some() {
        return refuse(
            "the token's header has critical extensions (crit) this server does not know",
        );
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return refuse("the token's key id (kid) is not a string"),
    };
    Ok((alg, kid))
}

/// The key must be of the algorithm's type (RSA for RS256, EC P-256 for ES256), so that a key
/// can never be used with an algorithm it was not made for.
fn check_key_fits(jwk: &Jwk, alg: Algorithm, kid: Option<&str>) -> Result<(), TokenError> {
    let (name, fits) = match alg {
        Algorithm::RS256 => (
            "RS256",
            matches!(jwk.algorithm, AlgorithmParameters::RSA(_)),
        ),
        Algorithm::ES256 => (
            "ES256",
            matches!(&jwk.algorithm, AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256),
        ),
        _ => return refuse("the token's algorithm is not accepted; use RS256 or ES256"),
    };
    let key = match kid {
        Some(kid) => format!("the key '{kid}'"),
        None => "the signing key".into(),
    };
    if !fits {
        let kind = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => "an RSA key".to_string(),
            AlgorithmParameters::EllipticCurve(p) => format!("an EC key on curve {:?}", p.curve),
            AlgorithmParameters::OctetKey(_) => "a symmetric key".into(),
            AlgorithmParameters::OctetKeyPair(_) => "an OKP key".into(),
            _ => "a key of an unknown type".into(),
        };
        return refuse(format!(
            "{key} is {kind}, which cannot verify {name} tokens"
        ));
    }
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return refuse(format!("{key} is meant for encryption, not for signatures"));
    }
    if let Some(key_alg) = jwk.common.key_algorithm {
        if key_alg.to_string() != name {
            return refuse(format!("{key} is meant for {key_alg}, not for {name}"));
        }
    }
    Ok(())
}

/// A short English reason for a refusal by `jsonwebtoken`.
fn explain(kind: &JwtErrorKind) -> String {
    match kind {
        JwtErrorKind::InvalidSignature => "the token's signature is invalid".into(),
        JwtErrorKind::ExpiredSignature => "the token has expired".into(),
        JwtErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        JwtErrorKind::InvalidIssuer => "the token was not issued by the trusted issuer".into(),
        JwtErrorKind::InvalidAudience => "the token is meant for another audience (aud)".into(),
        JwtErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
        JwtErrorKind::InvalidClaimFormat(claim) => {
            format!("the token's {claim} claim is malformed")
        }
        JwtErrorKind::InvalidAlgorithm => "the token's algorithm does not fit its key".into(),
        JwtErrorKind::InvalidEcdsaKey | JwtErrorKind::InvalidRsaKey(_) => {
            "the token's signing key is not usable".into()
        }
        JwtErrorKind::Json(_) => "the token's claims are malformed".into(),
        _ => "the token is not a well-formed signed JWT".into(),
    }
}

/// The public half of an EC P-256 key as a JWK.
fn ec_public_jwk(key: &p256::SecretKey, kid: &str) -> Jwk {
    let point = key.public_key().to_encoded_point(false);
    let coordinate =
        |c: Option<&p256::FieldBytes>| URL_SAFE_NO_PAD.encode(c.expect("uncompressed"));
    serde_json::from_value(serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "x": coordinate(point.x()),
        "y": coordinate(point.y()),
        "kid": kid,
        "use": "sig",
        "alg": "ES256",
    }))
    .expect("an EC JWK parses")
}

/// The development key of `data_dir`, made on first use.
fn dev_key(data_dir: &Path) -> Result<p256::SecretKey, String> {
    let path = data_dir.join(DEV_KEY_FILE);
    match fs::read_to_string(&path) {
        Ok(pem) => return parse_dev_key(&path, &pem),
        Err(e) if e.kind() == IoErrorKind::NotFound => {}
        Err(e) => {
            return Err(format!(
                "cannot read the development key {}: {e}",
                path.display()
            ))
        }
    }
    fs::create_dir_all(data_dir).map_err(|e| {
        format!(
            "cannot create the data directory {}: {e}",
            data_dir.display()
        )
    })?;
    let key = p256::SecretKey::random(&mut rand_core::OsRng);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the development key: {e}"))?;
    // Written aside and linked into place, so that a second process starting at the same time
    // never reads half a key, and the first key written wins.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let staged = data_dir.join(format!(".{DEV_KEY_FILE}.{}.{nanos}", std::process::id()));
    let written =
        write_private(&staged, pem.as_bytes()).and_then(|()| match fs::hard_link(&staged, &path) {
            Err(e) if e.kind() != IoErrorKind::AlreadyExists => fs::rename(&staged, &path),
            _ => Ok(()),
        });
    let _ = fs::remove_file(&staged);
    written.map_err(|e| format!("cannot store the development key {}: {e}", path.display()))?;
    let stored = fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the development key {}: {e}", path.display()))?;
    parse_dev_key(&path, &stored)
}

fn parse_dev_key(path: &Path, pem: &str) -> Result<p256::SecretKey, String> {
    p256::SecretKey::from_pkcs8_pem(pem).map_err(|e| {
        format!(
            "the development key {} is not a PKCS#8 P-256 key ({e}); remove it to make a new one",
            path.display()
        )
    })
}

/// Creates `path` readable and writable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A development token as `pzp-fhir token` describes it: without options a system
/// (trusted integration) token of the local organisation, valid for an hour.
pub fn mint(data_dir: &Path, options: &MintOptions) -> Result<String, String> {
    let minutes = options.minutes.unwrap_or(DEFAULT_MINUTES);
    if !(1..=MAX_MINUTES).contains(&minutes) {
        return Err(format!(
            "minutes must be between 1 and {MAX_MINUTES}, got {minutes}"
        ));
    }
    let role = options.role.clone().unwrap_or_else(|| "system".into());
    let default_scope = match role.as_str() {
        "system" => "system/*.cruds",
        "patient" => "patient/*.rs",
        _ => "user/*.cruds",
    };
    // Everyone but a patient acts for an organisation: the local one unless one is named.
    let (ura, org_name) = match (&options.ura, role.as_str()) {
        (Some(ura), _) => (Some(ura.clone()), None),
        (None, "patient") => (None, None),
        (None, _) => (Some(DEV_URA.to_string()), Some(DEV_ORG_NAME.to_string())),
    };
    let sub = match role.as_str() {
        "system" => Some("system".to_string()),
        "patient" => options.bsn.clone(),
        _ => options.uzi.clone(),
    }
    .unwrap_or_else(|| role.clone());
    let now = now();
    mint_claims(
        data_dir,
        &Claims {
            sub: Some(sub),
            iat: Some(now),
            exp: Some(now + minutes * 60),
            uzi: options.uzi.clone(),
            ura,
            org_name,
            pzp_role: Some(role),
            bsn: options.bsn.clone(),
            scope: Some(
                options
                    .scope
                    .clone()
                    .unwrap_or_else(|| default_scope.into()),
            ),
            purpose_of_use: options.purpose.clone(),
            reason: options.reason.clone(),
            ..Claims::default()
        },
    )
}

/// Signs `claims` with the development key of `data_dir` (made if missing). Unset `iss`, `aud`,
/// `iat` and `exp` get the development defaults (an hour from now); set ones are kept, so that
/// tests can make expired or foreign tokens.
pub fn mint_claims(data_dir: &Path, claims: &Claims) -> Result<String, String> {
    let key = dev_key(data_dir)?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the development key: {e}"))?;
    let signing_key = EncodingKey::from_ec_pem(pem.as_bytes())
        .map_err(|e| format!("cannot use the development key: {e}"))?;
    let now = now();
    let mut claims = claims.clone();
    claims.iss.get_or_insert_with(|| DEV_ISSUER.into());
    claims.aud.get_or_insert_with(|| DEV_AUDIENCE.into());
    claims.iat.get_or_insert(now);
    claims.exp.get_or_insert(now + DEFAULT_MINUTES * 60);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(DEV_KID.into());
    jsonwebtoken::encode(&header, &claims, &signing_key)
        .map_err(|e| format!("cannot sign the token: {e}"))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, OnceLock};

    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::EncodePublicKey;
    use rsa::traits::PublicKeyParts;
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://idp.example/realms/zorg";
    const AUDIENCE: &str = "pzp-fhir-test";

    /// One RSA key per test binary: generating it is the slow part.
    fn rsa_key() -> &'static rsa::RsaPrivateKey {
        static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap())
    }

    fn rsa_signing_key() -> EncodingKey {
        let pem = rsa_key().to_pkcs1_pem(LineEnding::LF).unwrap();
        EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
    }

    fn rsa_public_pem() -> String {
        rsa_key()
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    }

    fn rsa_jwk(kid: &str) -> Value {
        let public = rsa_key().to_public_key();
        json!({
            "kty": "RSA",
            "kid": kid,
            "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        })
    }

    fn ec_key() -> p256::SecretKey {
        p256::SecretKey::random(&mut rand_core::OsRng)
    }

    fn ec_signing_key(key: &p256::SecretKey) -> EncodingKey {
        EncodingKey::from_ec_pem(key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap()
    }

    fn ec_jwk(key: &p256::SecretKey, kid: &str) -> Value {
        serde_json::to_value(ec_public_jwk(key, kid)).unwrap()
    }

    fn config(dir: &Path) -> Config {
        Config {
            data_dir: dir.join("data"),
            ..Config::default()
        }
    }

    /// A verifier trusting the keys of `jwks` (written to a file), for `ISSUER`/`AUDIENCE`.
    fn jwks_verifier(dir: &Path, keys: Vec<Value>) -> Verifier {
        let file = dir.join("jwks.json");
        fs::write(&file, json!({ "keys": keys }).to_string()).unwrap();
        Verifier::from_config(&Config {
            jwks_file: Some(file),
            token_issuer: Some(ISSUER.into()),
            token_audience: Some(AUDIENCE.into()),
            ..config(dir)
        })
        .unwrap()
    }

    fn claims() -> Value {
        json!({
            "sub": "123456789",
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now(),
            "exp": now() + 600,
            "pzp_role": "huisarts",
            "uzi": "123456789",
            "ura": "87654321",
            "scope": "user/*.cruds",
        })
    }

    fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn rs256(claims: &Value) -> String {
        sign(Algorithm::RS256, Some("rsa-1"), claims, &rsa_signing_key())
    }

    fn with(mut claims: Value, key: &str, value: Value) -> Value {
        claims[key] = value;
        claims
    }

    /// A token put together by hand, as an attacker would.
    fn forge(header: Value, claims: &Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    fn refusal(result: Result<Claims, TokenError>) -> String {
        result.expect_err("the token is refused").0
    }

    #[test]
    fn rs256_token_verifies_against_a_jwks_file() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        assert!(!verifier.is_development());
        let claims = verifier.verify(&rs256(&claims())).unwrap();
        assert_eq!(claims.pzp_role.as_deref(), Some("huisarts"));
        assert_eq!(claims.uzi.as_deref(), Some("123456789"));
        assert_eq!(claims.ura.as_deref(), Some("87654321"));
        assert_eq!(claims.aud, Some(json!(AUDIENCE)));
    }

    #[test]
    fn a_remembered_token_still_expires_and_is_checked_again_after_a_while() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        let token = rs256(&claims());
        verifier.verify(&token).unwrap();
        let remembered = |v: &Verifier| v.verified.lock().unwrap().contains_key(&token);
        assert!(remembered(&verifier));
        // A remembered check is what answers while it is fresh and unexpired...
        let mark = |v: &Verifier, exp: i64| {
            let mut cache = v.verified.lock().unwrap();
            let entry = cache.get_mut(&token).unwrap();
            entry.claims.uzi = Some("remembered".into());
            entry.claims.exp = Some(exp);
        };
        mark(&verifier, now() + 600);
        assert_eq!(
            verifier.verify(&token).unwrap().uzi.as_deref(),
            Some("remembered")
        );
        // ...but past its exp (and the leeway) the token itself is checked again.
        mark(&verifier, now() - LEEWAY_SECONDS as i64 - 1);
        assert_eq!(
            verifier.verify(&token).unwrap().uzi.as_deref(),
            Some("123456789")
        );
        // A token whose key is gone from the JWKS is refused once its remembered check is
        // older than VERIFIED_FOR.
        let other = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-2")]);
        other.verified.lock().unwrap().insert(
            token.clone(),
            Verified {
                claims: verifier.verify(&token).unwrap(),
                at: Instant::now() - VERIFIED_FOR,
            },
        );
        assert!(refusal(other.verify(&token)).contains("key"));
        assert!(!remembered(&other));
    }

    #[test]
    fn es256_token_verifies_against_a_jwks_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = ec_key();
        let verifier = jwks_verifier(dir.path(), vec![ec_jwk(&key, "ec-1")]);
        let token = sign(
            Algorithm::ES256,
            Some("ec-1"),
            &claims(),
            &ec_signing_key(&key),
        );
        assert_eq!(
            verifier.verify(&token).unwrap().sub.as_deref(),
            Some("123456789")
        );
    }

    #[test]
    fn audience_may_be_an_array_that_contains_ours() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        let token = rs256(&with(claims(), "aud", json!(["other", AUDIENCE])));
        assert!(verifier.verify(&token).is_ok());
    }

    #[test]
    fn key_is_looked_up_by_kid() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (ec_key(), ec_key());
        let verifier = jwks_verifier(
            dir.path(),
            vec![ec_jwk(&a, "a"), rsa_jwk("rsa-1"), ec_jwk(&b, "b")],
        );
        let signed_by_b = |kid| sign(Algorithm::ES256, Some(kid), &claims(), &ec_signing_key(&b));
        assert!(verifier.verify(&signed_by_b("b")).is_ok());
        assert_eq!(
            refusal(verifier.verify(&signed_by_b("a"))),
            "the token's signature is invalid"
        );
        assert!(verifier.verify(&rs256(&claims())).is_ok());
    }

    #[test]
    fn token_without_kid_needs_a_single_key() {
        let dir = tempfile::tempdir().unwrap();
        let no_kid = sign(Algorithm::RS256, None, &claims(), &rsa_signing_key());
        let single = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        assert!(single.verify(&no_kid).is_ok());
        let several = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1"), ec_jwk(&ec_key(), "e")]);
        assert!(refusal(several.verify(&no_kid)).contains("names no signing key"));
    }

    #[test]
    fn unknown_kid_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        let token = sign(
            Algorithm::RS256,
            Some("rsa-2"),
            &claims(),
            &rsa_signing_key(),
        );
        assert_eq!(
            refusal(verifier.verify(&token)),
            "the token's signing key 'rsa-2' is not known here"
        );
    }

    #[test]
    fn key_type_must_match_the_algorithm() {
        let dir = tempfile::tempdir().unwrap();
        let ec = ec_key();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1"), ec_jwk(&ec, "ec-1")]);
        // An RS256 header naming the EC key, and an ES256 header naming the RSA key.
        let rs_on_ec = sign(
            Algorithm::RS256,
            Some("ec-1"),
            &claims(),
            &rsa_signing_key(),
        );
        assert_eq!(
            refusal(verifier.verify(&rs_on_ec)),
            "the key 'ec-1' is an EC key on curve P256, which cannot verify RS256 tokens"
        );
        let es_on_rsa = sign(
            Algorithm::ES256,
            Some("rsa-1"),
            &claims(),
            &ec_signing_key(&ec),
        );
        assert_eq!(
            refusal(verifier.verify(&es_on_rsa)),
            "the key 'rsa-1' is an RSA key, which cannot verify ES256 tokens"
        );
    }

    #[test]
    fn key_of_another_curve_or_algorithm_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ec = ec_key();
        let mut p384 = ec_jwk(&ec, "p384");
        p384["crv"] = json!("P-384");
        let mut rs512 = rsa_jwk("rs512");
        rs512["alg"] = json!("RS512");
        let mut enc = rsa_jwk("enc");
        enc["use"] = json!("enc");
        let verifier = jwks_verifier(dir.path(), vec![p384, rs512, enc]);
        let es = sign(
            Algorithm::ES256,
            Some("p384"),
            &claims(),
            &ec_signing_key(&ec),
        );
        assert!(refusal(verifier.verify(&es)).contains("curve P384"));
        let rs = sign(
            Algorithm::RS256,
            Some("rs512"),
            &claims(),
            &rsa_signing_key(),
        );
        assert_eq!(
            refusal(verifier.verify(&rs)),
            "the key 'rs512' is meant for RS512, not for RS256"
        );
        let rs = sign(Algorithm::RS256, Some("enc"), &claims(), &rsa_signing_key());
        assert!(refusal(verifier.verify(&rs)).contains("meant for encryption"));
    }

    #[test]
    fn alg_none_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        let header = json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"});
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        assert_eq!(
            refusal(verifier.verify(&unsigned)),
            "the token is not a well-formed signed JWT"
        );
        let with_signature = forge(header, &claims(), b"x");
        assert_eq!(
            refusal(verifier.verify(&with_signature)),
            "the token's algorithm none is not accepted; use RS256 or ES256"
        );
    }

    #[test]
    fn hs256_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        let token = sign(
            Algorithm::HS256,
            Some("rsa-1"),
            &claims(),
            &EncodingKey::from_secret(b"secret"),
        );
        assert_eq!(
            refusal(verifier.verify(&token)),
            "the token's algorithm HS256 is not accepted; use RS256 or ES256"
        );
    }

    #[test]
    fn hs256_signed_with_the_rsa_public_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        let public_pem = rsa_public_pem();
        for secret in [public_pem.as_bytes(), public_pem.trim_end().as_bytes()] {
            let token = sign(
                Algorithm::HS256,
                Some("rsa-1"),
                &claims(),
                &EncodingKey::from_secret(secret),
            );
            assert!(refusal(verifier.verify(&token)).contains("HS256 is not accepted"));
        }
    }

    #[test]
    fn other_algorithms_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        for alg in ["RS512", "PS256", "ES384", "EdDSA", "HS512"] {
            let token = forge(json!({"alg": alg, "kid": "rsa-1"}), &claims(), b"sig");
            assert_eq!(
                refusal(verifier.verify(&token)),
                format!("the token's algorithm {alg} is not accepted; use RS256 or ES256")
            );
        }
    }

    #[test]
    fn expired_token_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        let token = rs256(&with(claims(), "exp", json!(now() - 3600)));
        assert_eq!(refusal(verifier.verify(&token)), "the token has expired");
        // Within the leeway for clock skew it is still accepted.
        let token = rs256(&with(claims(), "exp", json!(now() - 10)));
        assert!(verifier.verify(&token).is_ok());
    }

    #[test]
    fn token_not_yet_valid_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        let token = rs256(&with(claims(), "nbf", json!(now() + 3600)));
        assert_eq!(
            refusal(verifier.verify(&token)),
            "the token is not valid yet (nbf)"
        );
    }

    #[test]
    fn wrong_issuer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        let token = rs256(&with(claims(), "iss", json!("https://evil.example")));
        assert_eq!(
            refusal(verifier.verify(&token)),
            "the token was not issued by the trusted issuer"
        );
    }

    #[test]
    fn wrong_audience_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        let token = rs256(&with(claims(), "aud", json!("another-server")));
        assert_eq!(
            refusal(verifier.verify(&token)),
            "the token is meant for another audience (aud)"
        );
    }

    #[test]
    fn missing_exp_iss_or_aud_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        for claim in ["exp", "iss", "aud"] {
            let mut claims = claims();
            claims.as_object_mut().unwrap().remove(claim);
            assert_eq!(
                refusal(verifier.verify(&rs256(&claims))),
                format!("the token has no {claim} claim")
            );
        }
    }

    #[test]
    fn tampered_payload_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        let token = rs256(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        let promoted = with(claims(), "pzp_role", json!("system"));
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(promoted.to_string()),
            parts[2]
        );
        assert_eq!(
            refusal(verifier.verify(&tampered)),
            "the token's signature is invalid"
        );
    }

    #[test]
    fn tampered_signature_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = ec_key();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1"), ec_jwk(&key, "ec-1")]);
        let tokens = [
            rs256(&claims()),
            sign(
                Algorithm::ES256,
                Some("ec-1"),
                &claims(),
                &ec_signing_key(&key),
            ),
        ];
        for token in tokens {
            let (rest, signature) = token.rsplit_once('.').unwrap();
            let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
            bytes[10] ^= 1;
            let tampered = format!("{rest}.{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert_eq!(
                refusal(verifier.verify(&tampered)),
                "the token's signature is invalid"
            );
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        let good = rs256(&claims());
        let (header, _) = good.split_once('.').unwrap();
        let malformed = [
            String::new(),
            "not a token".into(),
            "a.b".into(),
            "a.b.c.d.e".into(),
            "!!!.e30.c2ln".into(),
            format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode("[1,2]")),
            format!("{header}.not-base64!.c2ln"),
            format!("{header}.{}.c2ln", URL_SAFE_NO_PAD.encode("not json")),
            format!("{good}."),
        ];
        for token in malformed {
            let text = refusal(verifier.verify(&token));
            assert!(
                text.contains("well-formed") || text.contains("signature is invalid"),
                "{token}: {text}"
            );
        }
        let no_alg = forge(json!({"kid": "rsa-1"}), &claims(), b"sig");
        assert_eq!(
            refusal(verifier.verify(&no_alg)),
            "the token's header names no algorithm (alg)"
        );
        let crit = forge(
            json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"], "exp": 1}),
            &claims(),
            b"sig",
        );
        assert!(refusal(verifier.verify(&crit)).contains("critical"));
    }

    #[test]
    fn claims_of_the_wrong_type_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1")]);
        let token = rs256(&with(claims(), "uzi", json!(123)));
        assert_eq!(
            refusal(verifier.verify(&token)),
            "the token's claims are malformed"
        );
    }

    #[test]
    fn unreadable_keys_in_the_jwks_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = jwks_verifier(
            dir.path(),
            vec![
                json!({"kty": "EC", "crv": "secp256k1", "kid": "k1", "x": "AA", "y": "AA"}),
                json!({"kty": "RSA", "alg": "RSA-OAEP", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"}),
                json!("not a key"),
                rsa_jwk("rsa-1"),
            ],
        );
        assert!(verifier.verify(&rs256(&claims())).is_ok());
    }

    #[test]
    fn jwks_settings_need_issuer_and_audience() {
        let dir = tempfile::tempdir().unwrap();
        let base = Config {
            jwks_file: Some(dir.path().join("jwks.json")),
            ..config(dir.path())
        };
        let error = Verifier::from_config(&base).err().unwrap();
        assert!(error.contains("PZP_TOKEN_ISSUER and PZP_TOKEN_AUDIENCE are both required"));
        assert!(error.ends_with("missing: PZP_TOKEN_ISSUER and PZP_TOKEN_AUDIENCE"));
        let error = Verifier::from_config(&Config {
            token_issuer: Some(ISSUER.into()),
            jwks_url: Some("https://idp.example/jwks".into()),
            jwks_file: None,
            ..base
        })
        .err()
        .unwrap();
        assert!(error.ends_with("missing: PZP_TOKEN_AUDIENCE"));
        // The development key was not made on the way.
        assert!(!dir.path().join("data").join(DEV_KEY_FILE).exists());
    }

    #[test]
    fn jwks_configuration_mistakes_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let base = Config {
            token_issuer: Some(ISSUER.into()),
            token_audience: Some(AUDIENCE.into()),
            ..config(dir.path())
        };
        let error = |config: Config| Verifier::from_config(&config).err().unwrap();
        let both = error(Config {
            jwks_file: Some(dir.path().join("jwks.json")),
            jwks_url: Some("https://idp.example/jwks".into()),
            ..base.clone()
        });
        assert!(both.contains("not both"));
        let missing = error(Config {
            jwks_file: Some(dir.path().join("absent.json")),
            ..base.clone()
        });
        assert!(missing.contains("cannot read the JWKS file"));
        fs::write(dir.path().join("bad.json"), "{\"no\": []}").unwrap();
        let bad = error(Config {
            jwks_file: Some(dir.path().join("bad.json")),
            ..base.clone()
        });
        assert!(bad.contains("has no \"keys\" array"));
        for url in [
            "http://idp.example/jwks",
            "http://127.evil.example/jwks",
            "http://127.0.0.1@idp.example/jwks",
            "ftp://idp.example/jwks",
        ] {
            let plain = error(Config {
                jwks_url: Some(url.into()),
                ..base.clone()
            });
            assert!(plain.contains("must be an https:// URL"), "{url}: {plain}");
        }
        for url in [
            "https://idp.example/jwks",
            "http://localhost:8081/jwks",
            "http://127.0.0.1:8081/jwks",
            "http://[::1]:8081/jwks",
        ] {
            assert_eq!(check_jwks_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn verifier_can_be_shared_by_the_workers() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Verifier>();
    }

    #[test]
    fn development_key_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let verifier = Verifier::from_config(&config).unwrap();
        assert!(verifier.is_development());
        let key_file = config.data_dir.join(DEV_KEY_FILE);
        let pem = fs::read_to_string(&key_file).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&key_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let token = mint(
            &config.data_dir,
            &MintOptions {
                role: Some("huisarts".into()),
                uzi: Some("123".into()),
                ura: Some("456".into()),
                purpose: Some("ETREAT".into()),
                reason: Some("reanimatie".into()),
                minutes: Some(5),
                ..MintOptions::default()
            },
        )
        .unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some(DEV_KID));
        let claims = verifier.verify(&token).unwrap();
        assert_eq!(claims.iss.as_deref(), Some(DEV_ISSUER));
        assert_eq!(claims.aud, Some(json!(DEV_AUDIENCE)));
        assert_eq!(claims.pzp_role.as_deref(), Some("huisarts"));
        assert_eq!(claims.sub.as_deref(), Some("123"));
        assert_eq!(claims.uzi.as_deref(), Some("123"));
        assert_eq!(claims.ura.as_deref(), Some("456"));
        assert_eq!(claims.org_name, None);
        assert_eq!(claims.scope.as_deref(), Some("user/*.cruds"));
        assert_eq!(claims.purpose_of_use.as_deref(), Some("ETREAT"));
        assert_eq!(claims.reason.as_deref(), Some("reanimatie"));
        let (iat, exp) = (claims.iat.unwrap(), claims.exp.unwrap());
        assert!((now() - iat).abs() < 5);
        assert_eq!(exp - iat, 300);

        // A later start reuses the key: the earlier token still verifies.
        let again = Verifier::from_config(&config).unwrap();
        assert!(again.verify(&token).is_ok());
        assert_eq!(fs::read_to_string(&key_file).unwrap(), pem);
        // The key file is all that is left in the data directory.
        let entries: Vec<_> = fs::read_dir(&config.data_dir).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn mint_makes_the_key_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested").join("data");
        let token = mint(&data_dir, &MintOptions::default()).unwrap();
        assert!(data_dir.join(DEV_KEY_FILE).exists());
        let verifier = Verifier::from_config(&Config {
            data_dir,
            ..config(dir.path())
        })
        .unwrap();
        let claims = verifier.verify(&token).unwrap();
        assert_eq!(claims.pzp_role.as_deref(), Some("system"));
        assert_eq!(claims.sub.as_deref(), Some("system"));
        assert_eq!(claims.scope.as_deref(), Some("system/*.cruds"));
        assert_eq!(claims.ura.as_deref(), Some(DEV_URA));
        assert_eq!(claims.org_name.as_deref(), Some(DEV_ORG_NAME));
        assert_eq!(claims.uzi, None);
        assert_eq!(claims.exp.unwrap() - claims.iat.unwrap(), 3600);
    }

    #[test]
    fn mint_defaults_per_role() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let verifier = Verifier::from_config(&config).unwrap();
        let minted = |options: MintOptions| {
            verifier
                .verify(&mint(&config.data_dir, &options).unwrap())
                .unwrap()
        };
        let patient = minted(MintOptions {
            role: Some("patient".into()),
            bsn: Some("999911120".into()),
            ..MintOptions::default()
        });
        assert_eq!(patient.scope.as_deref(), Some("patient/*.rs"));
        assert_eq!(patient.bsn.as_deref(), Some("999911120"));
        assert_eq!(patient.sub.as_deref(), Some("999911120"));
        assert_eq!(patient.ura, None);
        let nurse = minted(MintOptions {
            role: Some("wijkverpleegkundige".into()),
            scope: Some("user/Patient.rs user/Consent.rs".into()),
            ..MintOptions::default()
        });
        assert_eq!(
            nurse.scope.as_deref(),
            Some("user/Patient.rs user/Consent.rs")
        );
        assert_eq!(nurse.ura.as_deref(), Some(DEV_URA));
        for minutes in [0, -5, MAX_MINUTES + 1] {
            let options = MintOptions {
                minutes: Some(minutes),
                ..MintOptions::default()
            };
            assert!(mint(&config.data_dir, &options).is_err());
        }
    }

    #[test]
    fn mint_claims_keeps_what_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let verifier = Verifier::from_config(&config).unwrap();
        let token = mint_claims(
            &config.data_dir,
            &Claims {
                pzp_role: Some("system".into()),
                ura: Some("1".into()),
                ..Claims::default()
            },
        )
        .unwrap();
        let claims = verifier.verify(&token).unwrap();
        assert_eq!(claims.iss.as_deref(), Some(DEV_ISSUER));
        assert_eq!(claims.exp.unwrap() - claims.iat.unwrap(), 3600);
        // Absent claims are left out of the token rather than sent as null.
        let payload = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        let payload: Value = serde_json::from_slice(&payload).unwrap();
        assert!(payload.get("uzi").is_none());

        let expired = Claims {
            exp: Some(now() - 3600),
            iat: Some(now() - 7200),
            ..Claims::default()
        };
        let token = mint_claims(&config.data_dir, &expired).unwrap();
        assert_eq!(refusal(verifier.verify(&token)), "the token has expired");
        let foreign = Claims {
            iss: Some("someone-else".into()),
            ..Claims::default()
        };
        let token = mint_claims(&config.data_dir, &foreign).unwrap();
        assert!(refusal(verifier.verify(&token)).contains("trusted issuer"));
        let elsewhere = Claims {
            aud: Some(json!(["another-server"])),
            ..Claims::default()
        };
        let token = mint_claims(&config.data_dir, &elsewhere).unwrap();
        assert!(refusal(verifier.verify(&token)).contains("audience"));
    }

    #[test]
    fn development_key_is_refused_in_jwks_mode() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        // A development token minted for the production issuer and audience, with the kid
        // and key type of a production key.
        let token = mint_claims(
            &data_dir,
            &Claims {
                iss: Some(ISSUER.into()),
                aud: Some(json!(AUDIENCE)),
                pzp_role: Some("system".into()),
                ..Claims::default()
            },
        )
        .unwrap();
        let dev_key = fs::read_to_string(data_dir.join(DEV_KEY_FILE)).unwrap();
        let ec = ec_key();
        let verifier = jwks_verifier(dir.path(), vec![rsa_jwk("rsa-1"), ec_jwk(&ec, "ec-1")]);
        assert_eq!(
            refusal(verifier.verify(&token)),
            "the token's signing key 'dev' is not known here"
        );
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("ec-1".into());
        let dev_signing = EncodingKey::from_ec_pem(dev_key.as_bytes()).unwrap();
        let claims = claims();
        let posing = jsonwebtoken::encode(&header, &claims, &dev_signing).unwrap();
        assert_eq!(
            refusal(verifier.verify(&posing)),
            "the token's signature is invalid"
        );
        let minted = mint(&data_dir, &MintOptions::default()).unwrap();
        assert!(verifier.verify(&minted).is_err());
    }

    /// Serves `body` as the JWKS on `listener` and counts the requests.
    fn serve_jwks(listener: TcpListener, body: Arc<Mutex<String>>) -> (String, Arc<AtomicUsize>) {
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let body = body.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, hits)
    }

    #[test]
    fn jwks_url_is_fetched_cached_and_refetched_at_most_once_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (ec_key(), ec_key());
        let body = Arc::new(Mutex::new(json!({"keys": [ec_jwk(&a, "a")]}).to_string()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (url, hits) = serve_jwks(listener, body.clone());
        let verifier = Verifier::from_config(&Config {
            jwks_url: Some(url),
            token_issuer: Some(ISSUER.into()),
            token_audience: Some(AUDIENCE.into()),
            ..config(dir.path())
        })
        .unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let token = |key: &p256::SecretKey, kid| {
            sign(Algorithm::ES256, Some(kid), &claims(), &ec_signing_key(key))
        };
        assert!(verifier.verify(&token(&a, "a")).is_ok());
        assert!(verifier.verify(&token(&a, "a")).is_ok());
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "known keys come from the cache"
        );

        // The provider rotates to key b; within the minute an unknown kid does not refetch.
        *body.lock().unwrap() = json!({"keys": [ec_jwk(&a, "a"), ec_jwk(&b, "b")]}).to_string();
        assert!(refusal(verifier.verify(&token(&b, "b"))).contains("'b' is not known"));
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        // A minute later it does, once.
        let a_minute_ago = Instant::now() - RELOAD_INTERVAL;
        verifier.keys.cache.lock().unwrap().loaded_at = Some(a_minute_ago);
        assert!(verifier.verify(&token(&b, "b")).is_ok());
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert!(refusal(verifier.verify(&token(&b, "c"))).contains("'c' is not known"));
        assert!(verifier.verify(&token(&a, "a")).is_ok());
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn jwks_url_that_is_down_at_start_is_tried_again_later() {
        let dir = tempfile::tempdir().unwrap();
        let address = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let verifier = Verifier::from_config(&Config {
            jwks_url: Some(format!("http://{address}/jwks")),
            token_issuer: Some(ISSUER.into()),
            token_audience: Some(AUDIENCE.into()),
            ..config(dir.path())
        })
        .unwrap();
        assert!(refusal(verifier.verify(&rs256(&claims()))).contains("not known"));

        let body = json!({"keys": [rsa_jwk("rsa-1")]}).to_string();
        let (_, hits) = serve_jwks(
            TcpListener::bind(address).unwrap(),
            Arc::new(Mutex::new(body)),
        );
        let a_minute_ago = Instant::now() - RELOAD_INTERVAL;
        verifier.keys.cache.lock().unwrap().loaded_at = Some(a_minute_ago);
        assert!(verifier.verify(&rs256(&claims())).is_ok());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }
}
