//! Accounts' credentials at rest: what is stored for a password ([`secret`], digest HA1
//! values for the registrar's realm, as Kamailio's `subscriber` keeps `ha1` and `ha1b`), and
//! what the registrar and the admin API verify with ([`ha1`]). A plain password is stored only
//! when the operator keeps it (`database.keep_plain_passwords`).
//!
//! The HA1 values depend on the realm: after a realm change, an account whose row holds HA1
//! values for the old realm cannot authenticate until its password is set again, unless its
//! plain password is kept (then the HA1 values are computed again at start).

use registrar::Ha1;
use sip_message::digest::Algorithm;

/// What to store for `login`'s `password` in `realm`.
pub(crate) fn secret(login: &str, realm: &str, password: &str, keep_plain: bool) -> store::Secret {
    store::Secret {
        realm: realm.to_owned(),
        ha1: Algorithm::Md5.ha1(login, realm, password),
        ha1b: Algorithm::Sha256.ha1(login, realm, password),
        password: keep_plain.then(|| password.to_owned()),
    }
}

/// The HA1 values of a stored account for `realm`: the stored ones when computed for it,
/// else from a kept plain password; `None` (logged) when the account cannot authenticate in
/// this realm.
pub(crate) fn ha1(account: &store::Account, realm: &str) -> Option<Ha1> {
    let s = &account.secret;
    if s.realm == realm && !s.ha1.is_empty() && !s.ha1b.is_empty() {
        return Some(Ha1 {
            md5: s.ha1.clone(),
            sha256: s.ha1b.clone(),
        });
    }
    if let Some(password) = s.password.as_deref() {
        return Some(Ha1::from_password(&account.login, realm, password));
    }
    tracing::error!(
        login = %account.login,
        stored_realm = %s.realm,
        realm,
        "the account's credentials were stored for another realm: set its password again"
    );
    None
}

/// The HA1 for `alg` of `login`'s `password` in `realm`, to compare with a stored one.
pub(crate) fn ha1_of(alg: Algorithm, login: &str, realm: &str, password: &str) -> String {
    alg.ha1(login, realm, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(secret: store::Secret) -> store::Account {
        store::Account {
            id: 1,
            login: "alice".into(),
            secret,
            display_name: None,
            tech_prefix: String::new(),
            enabled: true,
            voicemail_uri: None,
            created_at: 0,
            answering_rules: Vec::new(),
        }
    }

    #[test]
    fn the_stored_secret_holds_no_password_unless_kept() {
        let s = secret("alice", "ferro.test", "s3cret", false);
        assert_eq!(s.password, None);
        assert_eq!(s.ha1, Algorithm::Md5.ha1("alice", "ferro.test", "s3cret"));
        assert_eq!(s.ha1b.len(), 64);
        assert!(!s.ha1.contains("s3cret") && !s.ha1b.contains("s3cret"));
        let kept = secret("alice", "ferro.test", "s3cret", true);
        assert_eq!(kept.password.as_deref(), Some("s3cret"));
    }

    #[test]
    fn another_realm_needs_the_plain_password() {
        let a = account(secret("alice", "old.realm", "s3cret", false));
        assert!(ha1(&a, "old.realm").is_some());
        assert_eq!(ha1(&a, "new.realm"), None);
        let kept = account(secret("alice", "old.realm", "s3cret", true));
        assert_eq!(
            ha1(&kept, "new.realm"),
            Some(Ha1::from_password("alice", "new.realm", "s3cret"))
        );
    }
}
