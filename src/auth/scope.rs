//! SMART App Launch scopes: v2 (`patient/Observation.rs`, `user/*.cruds`, `system/*.cruds`) and
//! the v1 forms (`patient/*.read`, `user/*.write`, `user/*.*`). A scope narrows what the role
//! allows; it never widens it.

/// What an interaction needs: SMART v2's c(reate), r(ead), u(pdate), d(elete), s(earch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Permission {
    fn letter(self) -> char {
        match self {
            Permission::Create => 'c',
            Permission::Read => 'r',
            Permission::Update => 'u',
            Permission::Delete => 'd',
            Permission::Search => 's',
        }
    }
}

/// The granted (resource type or `*`, permission letters) pairs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scopes(Vec<(String, String)>);

impl Scopes {
    /// Reads a space-separated scope string; what is not a resource scope (`openid`,
    /// `launch/patient`, malformed text) grants nothing.
    pub fn parse(text: &str) -> Scopes {
        let grants = text
            .split_whitespace()
            .filter_map(|s| {
                let (context, rest) = s.split_once('/')?;
                if !matches!(context, "patient" | "user" | "system") {
                    return None;
                }
                let (res_type, perms) = rest.split_once('.')?;
                // v2 permissions may carry a query (`?category=...`), which is not supported
                // here, so such a scope grants nothing rather than more than it says.
                if perms.contains('?') {
                    return None;
                }
                let letters = match perms {
                    "read" => "rs".to_string(),
                    "write" => "cud".to_string(),
                    "*" => "cruds".to_string(),
                    p if !p.is_empty() && p.chars().all(|c| "cruds".contains(c)) => p.into(),
                    _ => return None,
                };
                Some((res_type.to_string(), letters))
            })
            .collect();
        Scopes(grants)
    }

    /// Whether some scope grants `permission` on `res_type`.
    pub fn allow(&self, res_type: &str, permission: Permission) -> bool {
        self.0.iter().any(|(t, letters)| {
            (t == "*" || t == res_type) && letters.contains(permission.letter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    #[test]
    fn v2_and_v1_scopes() {
        let s = Scopes::parse("openid patient/*.rs user/Consent.cruds launch/patient");
        assert!(s.allow("Observation", Read) && s.allow("Observation", Search));
        assert!(!s.allow("Observation", Create));
        assert!(s.allow("Consent", Update) && s.allow("Consent", Delete));
        let v1 = Scopes::parse("user/*.read system/Patient.write");
        assert!(v1.allow("Goal", Search) && !v1.allow("Goal", Update));
        assert!(v1.allow("Patient", Create) && v1.allow("Patient", Update));
        assert!(Scopes::parse("system/*.*").allow("Task", Delete));
    }

    #[test]
    fn malformed_and_query_scopes_grant_nothing() {
        for s in [
            "",
            "patient",
            "patient/*",
            "patient/*.x",
            "other/*.rs",
            "user/Observation.rs?category=vital-signs",
        ] {
            assert!(!Scopes::parse(s).allow("Observation", Read), "{s}");
        }
    }
}
