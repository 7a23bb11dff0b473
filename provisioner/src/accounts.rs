//! The console's accounts: named people who sign in to `mlinfra serve`'s console and act as
//! themselves there (an approval is recorded under the signed-in name, never a typed one).
//!
//! Accounts are kept with the environment's secrets on this machine, where `serve` runs:
//! `<environment dir>/secrets/accounts.json`, mode 0600, written atomically. A password is
//! stored only as an Argon2id hash (PHC string, a random salt per account, the crate's default
//! cost: 19 MiB, 2 passes); checking a name that has no account costs the same as a wrong
//! password, so the answer's time does not say which names exist.
//!
//! An account may also hold API tokens (`mlinfra users token`), for programs such as MLflow's
//! client (`MLFLOW_TRACKING_TOKEN`): `mlinfra_<id>_<secret>`, 32 random bytes of secret, kept
//! only as the SHA-256 of the whole token (a random token needs no slow hash), shown once.

use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use serde::{Deserialize, Serialize};

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 12;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    /// Argon2id, as a PHC string.
    hash: String,
    /// When it was created (RFC 3339).
    pub created: String,
}

/// An API token of an account, as stored: never the token itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// The token's public part (`mlinfra_<id>_...`), by which it is listed and revoked.
    pub id: String,
    pub account: String,
    /// SHA-256 of the whole token, hex.
    sha256: String,
    pub created: String,
}

/// The prefix of every token.
pub const TOKEN_PREFIX: &str = "mlinfra_";

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    accounts: Vec<Account>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tokens: Vec<Token>,
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// The accounts file of an environment.
#[derive(Debug, Clone)]
pub struct Accounts {
    path: PathBuf,
}

/// A name as accounts take it: 1 to 64 of lowercase letters, digits, `.`, `_`, `-`, `@`,
/// starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_@".contains(c);
    if name.is_empty()
        || name.len() > 64
        || !name.chars().all(ok_char)
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(format!(
            "account name `{name}`: expected 1 to 64 lowercase letters, digits, `.`, `_`, `-` or `@`, starting with a letter or digit"
        ));
    }
    Ok(())
}

impl Accounts {
    /// The accounts of the environment whose directory is `env_dir`.
    pub fn at(env_dir: &Path) -> Accounts {
        Accounts {
            path: env_dir.join("secrets").join("accounts.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<File, String> {
        match std::fs::read(&self.path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| format!("`{}` is not an accounts file: {e}", self.path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
            Err(e) => Err(format!("cannot read `{}`: {e}", self.path.display())),
        }
    }

    fn write(&self, file: &File) -> Result<(), String> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("cannot restrict `{}`: {e}", dir.display()))?;
        }
        let mut text = serde_json::to_string_pretty(file).map_err(|e| e.to_string())?;
        text.push('\n');
        crate::engine::state::write_atomic(&self.path, text.as_bytes())
            .map_err(|e| format!("cannot write `{}`: {e}", self.path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("cannot restrict `{}`: {e}", self.path.display()))?;
        }
        Ok(())
    }

    /// Every account, by name.
    pub fn list(&self) -> Result<Vec<Account>, String> {
        let mut a = self.read()?.accounts;
        a.sort_by(|x, y| x.name.cmp(&y.name));
        Ok(a)
    }

    /// Create `name` with `password`, or set its password when `replace`.
    pub fn set(&self, name: &str, password: &str, replace: bool) -> Result<bool, String> {
        check_name(name)?;
        if password.chars().count() < MIN_PASSWORD {
            return Err(format!(
                "password for `{name}`: {} characters, expected at least {MIN_PASSWORD}",
                password.chars().count()
            ));
        }
        let mut file = self.read()?;
        let existing = file.accounts.iter().position(|a| a.name == name);
        if existing.is_some() && !replace {
            return Err(format!(
                "account `{name}` exists\nhint: `mlinfra users passwd {name}` sets a new password"
            ));
        }
        let hash = hash(password)?;
        match existing {
            Some(i) => file.accounts[i].hash = hash,
            None => file.accounts.push(Account {
                name: name.to_string(),
                hash,
                created: mlinfra_core::clock::rfc3339(mlinfra_core::jobs::now()),
            }),
        }
        self.write(&file)?;
        Ok(existing.is_none())
    }

    /// Remove `name` and its tokens; whether it existed.
    pub fn remove(&self, name: &str) -> Result<bool, String> {
        let mut file = self.read()?;
        let before = file.accounts.len();
        file.accounts.retain(|a| a.name != name);
        if file.accounts.len() == before {
            return Ok(false);
        }
        file.tokens.retain(|t| t.account != name);
        self.write(&file)?;
        Ok(true)
    }

    /// A new API token for `name`: the token (shown once, never stored) and its record.
    pub fn create_token(&self, name: &str) -> Result<(String, Token), String> {
        let mut file = self.read()?;
        if !file.accounts.iter().any(|a| a.name == name) {
            return Err(format!(
                "no account `{name}`\nhint: `mlinfra users add {name}` creates it"
            ));
        }
        let id = crate::console::session::token()?[..12].to_string();
        let token = format!("{TOKEN_PREFIX}{id}_{}", crate::console::session::token()?);
        let t = Token {
            id: format!("{TOKEN_PREFIX}{id}"),
            account: name.to_string(),
            sha256: sha256_hex(&token),
            created: mlinfra_core::clock::rfc3339(mlinfra_core::jobs::now()),
        };
        file.tokens.push(t.clone());
        self.write(&file)?;
        Ok((token, t))
    }

    /// The tokens of `name` (of every account when `None`).
    pub fn tokens(&self, name: Option<&str>) -> Result<Vec<Token>, String> {
        let mut t: Vec<Token> = self
            .read()?
            .tokens
            .into_iter()
            .filter(|t| name.is_none_or(|n| t.account == n))
            .collect();
        t.sort_by(|a, b| (&a.account, &a.created).cmp(&(&b.account, &b.created)));
        Ok(t)
    }

    /// Revoke the token whose id (or whole token) is `id`; the account it was of.
    pub fn revoke_token(&self, id: &str) -> Result<Option<String>, String> {
        let mut file = self.read()?;
        let id = token_id(id).unwrap_or(id);
        let Some(i) = file.tokens.iter().position(|t| t.id == id) else {
            return Ok(None);
        };
        let t = file.tokens.remove(i);
        self.write(&file)?;
        Ok(Some(t.account))
    }

    /// The account a token is of, if it is a live token of an account that exists.
    pub fn token_account(&self, token: &str) -> Result<Option<String>, String> {
        let file = self.read()?;
        let Some(id) = token_id(token) else {
            return Ok(None);
        };
        let hash = sha256_hex(token);
        Ok(file
            .tokens
            .iter()
            .find(|t| t.id == id && crate::console::session::same(&t.sha256, &hash))
            .filter(|t| file.accounts.iter().any(|a| a.name == t.account))
            .map(|t| t.account.clone()))
    }

    /// The stored password hash of `name`, which changes with its password (a key for a cache
    /// of checked passwords).
    pub fn password_hash(&self, name: &str) -> Result<Option<String>, String> {
        Ok(self
            .read()?
            .accounts
            .into_iter()
            .find(|a| a.name == name)
            .map(|a| a.hash))
    }

    /// Whether `password` is `name`'s. A name without an account costs one hash too.
    pub fn verify(&self, name: &str, password: &str) -> Result<bool, String> {
        let file = self.read()?;
        let stored = file
            .accounts
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.hash.clone());
        let phc = stored.clone().unwrap_or_else(|| dummy_hash().to_string());
        let parsed = PasswordHash::new(&phc)
            .map_err(|e| format!("the stored hash of `{name}` is unreadable: {e}"))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(matches && stored.is_some())
    }
}

/// The id part of a token (`mlinfra_<id>` of `mlinfra_<id>_<secret>`).
fn token_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let end = rest.find('_').unwrap_or(rest.len());
    Some(&token[..TOKEN_PREFIX.len() + end])
}

fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// A hash of a random password, made once, verified against when a name has no account.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&crate::lambda::request_id()).unwrap_or_default())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_stored_hashed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::at(dir.path());
        assert!(a.set("alice", "correct horse battery", false).unwrap());
        assert!(a.verify("alice", "correct horse battery").unwrap());
        assert!(!a.verify("alice", "correct horse batterY").unwrap());
        assert!(!a.verify("mallory", "correct horse battery").unwrap());
        let text = std::fs::read_to_string(a.path()).unwrap();
        assert!(!text.contains("correct horse"), "{text}");
        assert!(text.contains("$argon2id$"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(a.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Same password, another salt.
        assert!(a.set("bob", "correct horse battery", false).unwrap());
        let hashes: Vec<String> = a
            .read()
            .unwrap()
            .accounts
            .into_iter()
            .map(|x| x.hash)
            .collect();
        assert_ne!(hashes[0], hashes[1]);
        // Refusals name the field and what was expected.
        let e = a.set("alice", "another long password", false).unwrap_err();
        assert!(
            e.contains("account `alice` exists") && e.contains("users passwd"),
            "{e}"
        );
        let e = a.set("carol", "short", false).unwrap_err();
        assert!(e.contains("5 characters, expected at least 12"), "{e}");
        let e = a
            .set("Carol!", "a long enough password", false)
            .unwrap_err();
        assert!(e.contains("account name `Carol!`"), "{e}");
        // A new password replaces the old; removal ends the account.
        assert!(!a.set("alice", "a new long password", true).unwrap());
        assert!(!a.verify("alice", "correct horse battery").unwrap());
        assert!(a.verify("alice", "a new long password").unwrap());
        assert!(a.remove("alice").unwrap());
        assert!(!a.remove("alice").unwrap());
        assert_eq!(
            a.list()
                .unwrap()
                .iter()
                .map(|x| x.name.as_str())
                .collect::<Vec<_>>(),
            ["bob"]
        );
    }

    #[test]
    fn tokens_are_stored_hashed_checked_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::at(dir.path());
        a.set("bob", "correct horse battery", false).unwrap();
        let (token, t) = a.create_token("bob").unwrap();
        assert!(token.starts_with(&format!("{}_", t.id)), "{token} {}", t.id);
        assert_eq!(a.token_account(&token).unwrap().as_deref(), Some("bob"));
        let text = std::fs::read_to_string(a.path()).unwrap();
        assert!(!text.contains(&token), "{text}");
        // A token with another secret, or no token, is nobody's.
        let forged = format!("{}_{}", t.id, "0".repeat(64));
        assert_eq!(a.token_account(&forged).unwrap(), None);
        assert_eq!(a.token_account("bearer").unwrap(), None);
        assert!(
            a.create_token("mallory")
                .unwrap_err()
                .contains("no account `mallory`")
        );
        assert_eq!(a.revoke_token(&t.id).unwrap().as_deref(), Some("bob"));
        assert_eq!(a.token_account(&token).unwrap(), None);
        assert_eq!(a.revoke_token(&t.id).unwrap(), None);
        // Removing an account ends its tokens.
        let (token, _) = a.create_token("bob").unwrap();
        a.remove("bob").unwrap();
        assert_eq!(a.token_account(&token).unwrap(), None);
        assert!(a.tokens(None).unwrap().is_empty());
    }
}
