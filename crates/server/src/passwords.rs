//! Local user names and passwords: validation, argon2id hashing, verification.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) with a fresh
//! 16-byte random salt each. The parameters are the argon2 crate's defaults, which are
//! OWASP's recommended minimum for argon2id; they are recorded in each hash, so they can be
//! raised later without invalidating stored passwords.
//!
//! Everything here is pure (no storage, no logging): the CLI and, later, the login
//! handler call it with what they read from [`crate::storage`].

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::storage::{PasswordHashText, User};

/// Shorter passwords are refused. Length is what protects a password against guessing;
/// composition rules mostly produce predictable patterns (NIST SP 800-63B).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longer input is refused rather than hashed, so nobody can make the server hash
/// megabytes per login attempt.
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MAX_USERNAME_LEN: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters long")]
    TooShort,
    #[error("the password must be at most {MAX_PASSWORD_BYTES} bytes long")]
    TooLong,
    #[error("random number generator failed")]
    Random,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid username: use 1 to {MAX_USERNAME_LEN} ASCII letters, digits, '.', '_', '-' or '@', \
     starting with a letter or digit"
)]
pub struct InvalidUsername;

/// Usernames are ASCII so that "the same name ignoring case" means the same thing in
/// SQLite (whose lower() only folds ASCII), PostgreSQL and Rust, and so that look-alike
/// Unicode names cannot impersonate each other in the audit log.
pub fn validate_username(username: &str) -> Result<(), InvalidUsername> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._-@".contains(&b);
    match username.as_bytes().first() {
        Some(first)
            if first.is_ascii_alphanumeric()
                && username.len() <= MAX_USERNAME_LEN
                && username.bytes().all(allowed) =>
        {
            Ok(())
        }
        _ => Err(InvalidUsername),
    }
}

/// The password policy: at least [`MIN_PASSWORD_CHARS`] characters (not bytes), at most
/// [`MAX_PASSWORD_BYTES`] bytes.
pub fn check_password_policy(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Ok(())
}

/// Checks the policy, then hashes with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<PasswordHashText, PasswordError> {
    check_password_policy(password)?;
    hash_unchecked(password)
}

fn hash_unchecked(password: &str) -> Result<PasswordHashText, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| PasswordError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(PasswordHashText(hash.to_string()))
}

/// True when `password` matches the stored hash. A malformed or non-argon2 hash never
/// matches. The parameters are read from the hash itself; the comparison of the derived
/// bytes is constant-time (done by the argon2 crate).
pub fn verify_password(password: &str, stored: &PasswordHashText) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(&stored.0) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// The login decision for a looked-up user: the user when it exists, is enabled and the
/// password matches. An unknown or disabled user still costs one hash computation, so the
/// response time does not tell which usernames exist.
pub fn check_login<'a>(user: Option<&'a User>, password: &str) -> Option<&'a User> {
    match user {
        Some(user) => {
            let matches = verify_password(password, &user.password_hash);
            (matches && !user.disabled).then_some(user)
        }
        None => {
            if let Some(dummy) = dummy_hash() {
                let _ = verify_password(password, dummy);
            }
            None
        }
    }
}

/// A hash of a random password with the current parameters, computed once, to spend the
/// same time on unknown users as on known ones.
fn dummy_hash() -> Option<&'static PasswordHashText> {
    static DUMMY: OnceLock<Option<PasswordHashText>> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let secret = crate::secrets::random_secret().ok()?;
            hash_unchecked(&secret).ok()
        })
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ApiRole;

    fn user(hash: PasswordHashText, disabled: bool) -> User {
        User {
            id: "u1".into(),
            username: "alice".into(),
            display_name: String::new(),
            role: ApiRole::Viewer,
            password_hash: hash,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            disabled,
        }
    }

    #[test]
    fn hashes_are_salted_argon2id_phc_strings_that_verify() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert!(a.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", a.0);
        assert_ne!(a, b, "a random salt per hash");
        assert!(verify_password("correct horse battery", &a));
        assert!(verify_password("correct horse battery", &b));
        assert!(!verify_password("correct horse batterY", &a));
        assert!(!verify_password("", &a));
        assert!(!verify_password(
            "correct horse battery",
            &PasswordHashText("garbage".into())
        ));
        assert!(!format!("{a:?}").contains("argon2"), "Debug hides the hash");
    }

    #[test]
    fn password_policy_counts_characters() {
        assert_eq!(hash_password("elevenchars"), Err(PasswordError::TooShort));
        assert_eq!(check_password_policy("twelve chars"), Ok(()));
        // 12 characters, 24 bytes: characters are what count.
        assert_eq!(check_password_policy("éééééééééééé"), Ok(()));
        assert_eq!(check_password_policy("ééééééééééé"), Err(PasswordError::TooShort));
        assert_eq!(
            check_password_policy(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(PasswordError::TooLong)
        );
    }

    #[test]
    fn usernames_are_plain_ascii() {
        for ok in ["alice", "Bob", "j.doe@example.org", "ops_1", "a"] {
            assert_eq!(validate_username(ok), Ok(()), "{ok}");
        }
        let too_long = "a".repeat(MAX_USERNAME_LEN + 1);
        for bad in ["", "-alice", ".x", "al ice", "alicé", "a/b", too_long.as_str()] {
            assert_eq!(validate_username(bad), Err(InvalidUsername), "{bad}");
        }
    }

    #[test]
    fn login_needs_an_enabled_user_and_the_right_password() {
        let hash = hash_password("a long enough secret").unwrap();
        let enabled = user(hash.clone(), false);
        let disabled = user(hash, true);
        assert_eq!(
            check_login(Some(&enabled), "a long enough secret"),
            Some(&enabled)
        );
        assert_eq!(check_login(Some(&enabled), "a long enough secreT"), None);
        assert_eq!(check_login(Some(&disabled), "a long enough secret"), None);
        assert_eq!(check_login(None, "a long enough secret"), None);
    }
}
