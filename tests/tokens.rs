//! `pzp-fhir token`: the binary mints a development token that the server's verifier accepts,
//! and refuses bad arguments and production (JWKS) settings.

use std::path::Path;
use std::process::{Command, Output};

use pzp_fhir::auth::token::{Verifier, DEV_AUDIENCE, DEV_ISSUER, DEV_KEY_FILE};
use pzp_fhir::Config;

/// Runs `pzp-fhir token ARGS` with `data_dir` and no token settings from the caller's
/// environment.
fn token(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pzp-fhir"));
    command
        .arg("token")
        .args(args)
        .env("PZP_DATA_DIR", data_dir);
    for name in [
        "PZP_JWKS_FILE",
        "PZP_JWKS_URL",
        "PZP_TOKEN_ISSUER",
        "PZP_TOKEN_AUDIENCE",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command.output().expect("the binary runs")
}

fn config(data_dir: &Path) -> Config {
    Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    }
}

#[test]
fn token_command_mints_a_token_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let output = token(
        dir.path(),
        &["--role", "huisarts", "--uzi", "123", "--ura", "456"],
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stdout}");
    assert_eq!(lines[0].split('.').count(), 3, "a JWT: {stdout}");
    assert!(dir.path().join(DEV_KEY_FILE).exists());

    let verifier = Verifier::from_config(&config(dir.path())).unwrap();
    let claims = verifier.verify(lines[0]).unwrap();
    assert_eq!(claims.pzp_role.as_deref(), Some("huisarts"));
    assert_eq!(claims.uzi.as_deref(), Some("123"));
    assert_eq!(claims.ura.as_deref(), Some("456"));
    assert_eq!(claims.scope.as_deref(), Some("user/*.cruds"));
    assert_eq!(claims.iss.as_deref(), Some(DEV_ISSUER));
    assert_eq!(claims.aud, Some(serde_json::json!(DEV_AUDIENCE)));
    let lifetime = claims.exp.unwrap() - claims.iat.unwrap();
    assert_eq!(lifetime, 3600);
}

#[test]
fn token_command_without_flags_mints_a_system_token() {
    let dir = tempfile::tempdir().unwrap();
    let output = token(dir.path(), &["--minutes=5", "--reason", "test run"], &[]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let verifier = Verifier::from_config(&config(dir.path())).unwrap();
    let claims = verifier.verify(stdout.trim_end()).unwrap();
    assert_eq!(claims.pzp_role.as_deref(), Some("system"));
    assert_eq!(claims.scope.as_deref(), Some("system/*.cruds"));
    assert_eq!(claims.ura.as_deref(), Some("00000000"));
    assert_eq!(claims.reason.as_deref(), Some("test run"));
    assert_eq!(claims.exp.unwrap() - claims.iat.unwrap(), 300);
}

#[test]
fn token_command_refuses_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["--bogus"], "unknown argument '--bogus'"),
        (&["--role"], "--role needs a value"),
        (&["--uzi", "--ura", "1"], "--uzi needs a value"),
        (&["--minutes", "soon"], "--minutes must be a whole number"),
        (&["--role", "koning"], "unknown role 'koning'"),
        (&["--ura", "1", "--ura", "2"], "--ura is given twice"),
    ];
    for (args, message) in cases {
        let output = token(dir.path(), args, &[]);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    assert!(!dir.path().join(DEV_KEY_FILE).exists());
}

#[test]
fn token_command_refuses_when_a_jwks_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, r#"{"keys": []}"#).unwrap();
    let output = token(
        dir.path(),
        &[],
        &[
            ("PZP_JWKS_FILE", jwks.to_str().unwrap()),
            ("PZP_TOKEN_ISSUER", "https://idp.example"),
            ("PZP_TOKEN_AUDIENCE", "pzp-fhir"),
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("the development key is not used when PZP_JWKS_FILE/PZP_JWKS_URL is set"),
        "{stderr}"
    );
    assert!(!dir.path().join(DEV_KEY_FILE).exists());
}
