//! The BSN (burgerservicenummer), the Dutch citizen service number that identifies a patient
//! across every system in the chain: one current Patient per BSN, and only numbers that pass
//! the eleven-test. The ambulance's lookup by BSN must find exactly one person.

use serde_json::Value;

use crate::auth::BSN;
use crate::error::{ErrorKind, FhirError};
use crate::store::Tx;

/// Whether `text` is a BSN: nine digits (eight with a leading zero left off) whose weighted
/// sum, 9 down to 2 and -1 for the last digit, is a multiple of eleven.
pub fn passes_eleven_test(text: &str) -> bool {
    if !(8..=9).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits: Vec<i64> = format!("{text:0>9}")
        .bytes()
        .map(|b| (b - b'0') as i64)
        .collect();
    let sum: i64 = digits[..8]
        .iter()
        .zip((2..=9).rev())
        .map(|(d, w)| d * w)
        .sum::<i64>()
        - digits[8];
    sum % 11 == 0 && digits.iter().any(|d| *d != 0)
}

/// The BSNs of a Patient, each checked with the eleven-test (422 at the identifier that
/// fails it).
pub fn of_patient(patient: &Value) -> Result<Vec<String>, FhirError> {
    let mut out = Vec::new();
    let identifiers = patient.get("identifier").and_then(Value::as_array);
    for (i, identifier) in identifiers.into_iter().flatten().enumerate() {
        if identifier.get("system").and_then(Value::as_str) != Some(BSN) {
            continue;
        }
        let Some(value) = identifier.get("value").and_then(Value::as_str) else {
            continue;
        };
        if !passes_eleven_test(value) {
            return Err(FhirError::new(
                ErrorKind::Unprocessable,
                "value",
                format!("'{value}' is not a BSN: it does not pass the eleven-test"),
            )
            .at(format!("Patient.identifier[{i}].value")));
        }
        let value = format!("{value:0>9}");
        if !out.contains(&value) {
            out.push(value);
        }
    }
    Ok(out)
}

/// Records the BSNs of the written Patient `id` (`patient` is `None` once deleted); 409 when
/// another current Patient has one of them, whether or not the caller may see that Patient.
/// The answer names the BSN the caller sent, nothing of the other record.
pub fn claim(tx: &mut Tx, id: &str, patient: Option<&Value>) -> Result<(), FhirError> {
    let bsns = match patient {
        Some(p) => of_patient(p)?,
        None => Vec::new(),
    };
    match tx.claim_bsns(id, &bsns)? {
        None => Ok(()),
        Some(bsn) => Err(FhirError::new(
            ErrorKind::Conflict,
            "duplicate",
            format!("a Patient with BSN {bsn} is already registered; update that Patient instead of registering a second one"),
        )
        .at("Patient.identifier")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleven_test() {
        for good in ["999911120", "123456782", "999990019", "12345672"] {
            assert!(passes_eleven_test(good), "{good}");
        }
        for bad in [
            "999911121",
            "100000000",
            "000000000",
            "12345678a",
            "1234567",
            "1234567890",
        ] {
            assert!(!passes_eleven_test(bad), "{bad}");
        }
    }
}
