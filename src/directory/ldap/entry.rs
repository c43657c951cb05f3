//! Reading a user entry: attribute mapping, the subject id (objectGUID rendered as a
//! GUID), and whether the account is disabled.

use ldap3::controls::RawControl;
use ldap3::SearchEntry;

use crate::config::LdapAttributes;
use crate::directory::DirectoryError;
use crate::identity::Identity;

/// AD `userAccountControl` flag ACCOUNTDISABLE.
const UAC_ACCOUNT_DISABLE: u64 = 0x2;
/// Password policy request/response control (draft-behera-ldap-password-policy).
pub(crate) const PPOLICY_OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
/// `accountLocked` in the password policy response's `error` field.
const PPOLICY_ACCOUNT_LOCKED: u8 = 1;
/// Attributes read to decide whether an account is disabled.
pub(crate) const DISABLED_ATTRIBUTES: [&str; 3] = [
    "userAccountControl",
    "pwdAccountLockedTime",
    "nsAccountLock",
];

/// First value of `name` (attribute names are case-insensitive).
pub(crate) fn first_text(entry: &SearchEntry, name: &str) -> Option<String> {
    all_text(entry, name).into_iter().next()
}

/// Every text value of `name`.
pub(crate) fn all_text(entry: &SearchEntry, name: &str) -> Vec<String> {
    entry
        .attrs
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, values)| values.clone())
        .unwrap_or_default()
}

/// First value of `name` as bytes, whether the library decoded it as text or not.
fn first_bytes(entry: &SearchEntry, name: &str) -> Option<Vec<u8>> {
    if let Some(text) = first_text(entry, name) {
        return Some(text.into_bytes());
    }
    entry
        .bin_attrs
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, values)| values.first().cloned())
}

/// The identity an entry describes (groups filled in later).
pub(crate) fn identity_of(
    entry: &SearchEntry,
    attributes: &LdapAttributes,
    source: &str,
) -> Result<Identity, DirectoryError> {
    let username = first_text(entry, &attributes.username).ok_or_else(|| {
        DirectoryError::Internal(format!(
            "entry {} has no {} attribute",
            entry.dn, attributes.username
        ))
    })?;
    let subject = subject_of(entry, &attributes.subject).ok_or_else(|| {
        DirectoryError::Internal(format!(
            "entry {} has no {} attribute (the subject id)",
            entry.dn, attributes.subject
        ))
    })?;
    let display_name = first_text(entry, &attributes.display_name)
        .or_else(|| first_text(entry, "cn"))
        .unwrap_or_else(|| username.clone());
    Ok(Identity {
        subject,
        username,
        display_name,
        email: first_text(entry, &attributes.email),
        department: first_text(entry, &attributes.department),
        employee_number: first_text(entry, &attributes.employee_number),
        groups: Vec::new(),
        group_dns: Vec::new(),
        source: source.to_string(),
    })
}

/// The subject id: text as is; a 16-byte `objectGUID` in its canonical text form.
fn subject_of(entry: &SearchEntry, attribute: &str) -> Option<String> {
    let bytes = first_bytes(entry, attribute)?;
    if attribute.eq_ignore_ascii_case("objectGUID") {
        return guid_text(&bytes);
    }
    match String::from_utf8(bytes) {
        Ok(text) if !text.is_empty() => Some(text),
        Ok(_) => None,
        Err(error) => Some(hex(error.as_bytes())),
    }
}

/// Microsoft's GUID layout: the first three fields little-endian, the rest as stored.
pub(crate) fn guid_text(bytes: &[u8]) -> Option<String> {
    let b: &[u8; 16] = bytes.try_into().ok()?;
    Some(format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{}-{}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        hex(&b[8..10]),
        hex(&b[10..16])
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// AD ACCOUNTDISABLE, an OpenLDAP ppolicy lock, or 389-DS/Oracle `nsAccountLock`.
pub(crate) fn is_disabled(entry: &SearchEntry) -> bool {
    let ad_disabled = first_text(entry, "userAccountControl")
        .and_then(|value| value.trim().parse::<u64>().ok())
        .is_some_and(|flags| flags & UAC_ACCOUNT_DISABLE != 0);
    let ppolicy_locked = first_text(entry, "pwdAccountLockedTime").is_some();
    let ns_locked =
        first_text(entry, "nsAccountLock").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    ad_disabled || ppolicy_locked || ns_locked
}

/// The request control asking the server to explain a refused bind.
pub(crate) fn ppolicy_request() -> RawControl {
    RawControl {
        ctype: PPOLICY_OID.to_string(),
        crit: false,
        val: None,
    }
}

/// Whether a bind response says the account is locked: the password policy control's
/// `error [1] accountLocked`, or AD's sub-codes for disabled (533) and locked (775)
/// accounts in the diagnostic text.
pub(crate) fn bind_says_locked(controls: &[ldap3::controls::Control], text: &str) -> bool {
    let ppolicy_locked = controls.iter().any(|control| {
        control.1.ctype == PPOLICY_OID
            && control.1.val.as_deref().and_then(ppolicy_error) == Some(PPOLICY_ACCOUNT_LOCKED)
    });
    ppolicy_locked || text.contains("data 533") || text.contains("data 775")
}

/// The `error` field of a PasswordPolicyResponseValue:
/// `SEQUENCE { warning [0] CHOICE {...} OPTIONAL, error [1] ENUMERATED OPTIONAL }`.
fn ppolicy_error(value: &[u8]) -> Option<u8> {
    let (tag, body, _) = ber_element(value)?;
    if tag != 0x30 {
        return None;
    }
    let mut rest = body;
    while !rest.is_empty() {
        let (tag, content, next) = ber_element(rest)?;
        if tag == 0x81 && content.len() == 1 {
            return Some(content[0]);
        }
        rest = next;
    }
    None
}

/// One BER element: (tag, content, the bytes after it). Short and long definite lengths.
fn ber_element(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first & 0x80 == 0 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let length = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (length, &rest[count..])
    };
    if rest.len() < length {
        return None;
    }
    Some((tag, &rest[..length], &rest[length..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_guid_renders_in_microsoft_layout() {
        let bytes = [
            0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ];
        assert_eq!(
            guid_text(&bytes).as_deref(),
            Some("00112233-4455-6677-8899-aabbccddeeff")
        );
        assert_eq!(guid_text(&bytes[..15]), None);
    }

    #[test]
    fn ppolicy_account_locked_is_read_from_the_response_value() {
        // SEQUENCE { error [1] accountLocked(1) }
        assert_eq!(ppolicy_error(&[0x30, 0x03, 0x81, 0x01, 0x01]), Some(1));
        // SEQUENCE { warning [0] { graceAuthNsRemaining [1] 3 }, error [1] changeAfterReset(2) }
        let value = [0x30, 0x08, 0xa0, 0x03, 0x81, 0x01, 0x03, 0x81, 0x01, 0x02];
        assert_eq!(ppolicy_error(&value), Some(2));
        assert_eq!(ppolicy_error(&[0x30, 0x00]), None);
        assert_eq!(ppolicy_error(&[0x30, 0x05, 0x81]), None);
        assert_eq!(ppolicy_error(&[]), None);
    }
}
