//! UserInfo (OIDC Core §5.3): the person's claims, chosen by the granted scopes.

use serde_json::{json, Map, Value};

use super::types::Scopes;
use crate::identity::Identity;

/// The claims `scopes` release about `identity` (without `sub`, which every answer has).
/// `profile` → name, given/family name, preferred_username, department; `email` → email;
/// `groups` → the directory groups. (`roles` comes from the policies: see [`with_roles`].)
pub fn claims_for(identity: &Identity, scopes: &Scopes) -> Value {
    let mut claims = Map::new();
    if scopes.contains("profile") {
        let (family, middle, given) = split_vietnamese_name(&identity.display_name);
        claims.insert("name".into(), identity.display_name.clone().into());
        claims.insert(
            "preferred_username".into(),
            identity.username.clone().into(),
        );
        if let Some(family) = family {
            claims.insert("family_name".into(), family.into());
        }
        if let Some(middle) = middle {
            claims.insert("middle_name".into(), middle.into());
        }
        if let Some(given) = given {
            claims.insert("given_name".into(), given.into());
        }
        if let Some(department) = &identity.department {
            claims.insert("department".into(), department.clone().into());
        }
    }
    if scopes.contains("email") {
        if let Some(email) = &identity.email {
            claims.insert("email".into(), email.clone().into());
            // The directory is the province's own record of the address.
            claims.insert("email_verified".into(), true.into());
        }
    }
    if scopes.contains("groups") {
        claims.insert("groups".into(), json!(identity.groups));
    }
    Value::Object(claims)
}

/// Adds the `roles` claim when the `roles` scope was granted.
pub fn with_roles(mut claims: Value, scopes: &Scopes, roles: Vec<String>) -> Value {
    if let (true, Some(object)) = (scopes.contains("roles"), claims.as_object_mut()) {
        object.insert("roles".into(), json!(roles));
    }
    claims
}

/// Vietnamese names put the family name first and the given name last ("Nguyễn Văn An":
/// family Nguyễn, middle Văn, given An).
fn split_vietnamese_name(name: &str) -> (Option<String>, Option<String>, Option<String>) {
    let words: Vec<&str> = name.split_whitespace().collect();
    match words.as_slice() {
        [] => (None, None, None),
        [only] => (None, None, Some(only.to_string())),
        [family, middle @ .., given] => (
            Some(family.to_string()),
            (!middle.is_empty()).then(|| middle.join(" ")),
            Some(given.to_string()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            subject: "u-1".into(),
            username: "nvan".into(),
            display_name: "Nguyễn Văn An".into(),
            email: Some("nvan@namdinh.gov.vn".into()),
            department: Some("Văn phòng UBND".into()),
            employee_number: None,
            groups: vec!["chuyen-vien".into()],
            group_dns: vec![],
            source: "ldap".into(),
        }
    }

    #[test]
    fn claims_follow_scopes() {
        let only_openid = claims_for(&identity(), &Scopes::parse("openid"));
        assert_eq!(only_openid, json!({}));
        let profile = claims_for(&identity(), &Scopes::parse("openid profile"));
        assert_eq!(profile["family_name"], "Nguyễn");
        assert_eq!(profile["middle_name"], "Văn");
        assert_eq!(profile["given_name"], "An");
        assert_eq!(profile["department"], "Văn phòng UBND");
        assert!(profile.get("email").is_none());
        let email = claims_for(&identity(), &Scopes::parse("openid email groups"));
        assert_eq!(email["email"], "nvan@namdinh.gov.vn");
        assert_eq!(email["groups"], json!(["chuyen-vien"]));
        assert!(email.get("name").is_none());
    }
}
