use std::io::IsTerminal;
use std::process::ExitCode;

use pzp_fhir::auth::token::{self, MintOptions};
use pzp_fhir::auth::Role;
use pzp_fhir::{Application, Config};
use tracing_subscriber::EnvFilter;

/// mimalloc returns memory freed after a large request to the system within moments; the
/// system allocator kept what a 20,000-entry transaction had taken until the process ended.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN_USAGE: &str = "usage: pzp-fhir token [--role ROLE] [--uzi NR] [--ura NR] [--bsn BSN] \
[--scope \"S ...\"] [--purpose CODE] [--reason TEXT] [--minutes N]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("openapi") => {
            print!("{}", pzp_fhir::http::openapi::document());
            ExitCode::SUCCESS
        }
        Some("token") => token_command(&args[1..]),
        Some("duplicates") => duplicates_command(),
        _ => match serve() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pzp-fhir: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

#[actix_web::main]
async fn serve() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Config::from_env().map_err(std::io::Error::other)?;
    Application::build(&config)?.run_until_stopped().await
}

/// `pzp-fhir duplicates`: lists every BSN that more than one current Patient carries (stored
/// before one Patient per BSN was enforced), one line each: the BSN and the Patient ids.
/// Exits 1 when there are any, so that a deployment script can stop on them.
fn duplicates_command() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(text) => {
            eprintln!("pzp-fhir duplicates: {text}");
            return ExitCode::from(2);
        }
    };
    let store = match pzp_fhir::store::Store::open(&config.database_url, 1, 0) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("pzp-fhir duplicates: {e}");
            return ExitCode::from(2);
        }
    };
    match store.duplicate_bsns(pzp_fhir::auth::BSN) {
        Ok(found) if found.is_empty() => {
            println!("no BSN is carried by more than one current Patient");
            ExitCode::SUCCESS
        }
        Ok(found) => {
            for (bsn, ids) in &found {
                println!(
                    "{bsn}\t{}",
                    ids.iter()
                        .map(|id| format!("Patient/{id}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            eprintln!(
                "{} BSNs are carried by more than one current Patient",
                found.len()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("pzp-fhir duplicates: {e}");
            ExitCode::from(2)
        }
    }
}

/// `pzp-fhir token …`: prints one development token; 2 for a usage or configuration mistake.
fn token_command(args: &[String]) -> ExitCode {
    let fail = |text: String, code: u8| {
        eprintln!("pzp-fhir token: {text}");
        ExitCode::from(code)
    };
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{TOKEN_USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse_token_args(args) {
        Ok(options) => options,
        Err(text) => return fail(format!("{text}\n{TOKEN_USAGE}"), 2),
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(text) => return fail(text, 2),
    };
    if config.uses_jwks() {
        return fail(
            "the development key is not used when PZP_JWKS_FILE/PZP_JWKS_URL is set; \
             get a token from the identity provider"
                .into(),
            2,
        );
    }
    let role = options.role.as_deref().unwrap_or("system");
    if !matches!(role, "system" | "patient") && options.uzi.is_none() {
        eprintln!("pzp-fhir token: note: the server refuses a professional's token without --uzi");
    }
    if role == "patient" && options.bsn.is_none() {
        eprintln!("pzp-fhir token: note: the server refuses a patient's token without --bsn");
    }
    match token::mint(&config.data_dir, &options) {
        Ok(jwt) => {
            println!("{jwt}");
            ExitCode::SUCCESS
        }
        Err(text) => fail(text, 1),
    }
}

fn parse_token_args(args: &[String]) -> Result<MintOptions, String> {
    let mut options = MintOptions::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let slot = match flag {
            "--role" => &mut options.role,
            "--uzi" => &mut options.uzi,
            "--ura" => &mut options.ura,
            "--bsn" => &mut options.bsn,
            "--scope" => &mut options.scope,
            "--purpose" => &mut options.purpose,
            "--reason" => &mut options.reason,
            "--minutes" => {
                let value = value_of(flag, inline, &mut rest)?;
                let minutes = value
                    .parse::<i64>()
                    .ok()
                    .filter(|m| *m >= 1)
                    .ok_or_else(|| {
                        format!("--minutes must be a whole number of at least 1, got '{value}'")
                    })?;
                if options.minutes.replace(minutes).is_some() {
                    return Err("--minutes is given twice".into());
                }
                continue;
            }
            _ => return Err(format!("unknown argument '{arg}'")),
        };
        let value = value_of(flag, inline, &mut rest)?;
        if slot.replace(value).is_some() {
            return Err(format!("{flag} is given twice"));
        }
    }
    if let Some(role) = &options.role {
        if Role::from_code(role).is_none() {
            return Err(format!(
                "unknown role '{role}'; one of: {}",
                Role::ALL.map(Role::code).join(", ")
            ));
        }
    }
    Ok(options)
}

/// The value of `flag`: after `=`, or the next argument unless that is another flag.
fn value_of<'a>(
    flag: &str,
    inline: Option<String>,
    rest: &mut impl Iterator<Item = &'a String>,
) -> Result<String, String> {
    let value = match inline {
        Some(value) => value,
        None => match rest.next() {
            Some(next) if !next.starts_with("--") => next.clone(),
            _ => return Err(format!("{flag} needs a value")),
        },
    };
    if value.trim().is_empty() {
        return Err(format!("{flag} needs a non-empty value"));
    }
    Ok(value)
}
