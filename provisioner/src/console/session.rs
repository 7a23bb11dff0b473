//! Sign-in sessions and their guards: random session tokens kept in memory (a restart of
//! `serve` signs everyone out), each with its own CSRF token; the cookie that carries them; and
//! the sign-in throttle that locks a name after repeated wrong passwords.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "mlinfra_session";
/// The cookie that carries the sign-in form's CSRF token before there is a session.
pub const SIGNIN_COOKIE: &str = "mlinfra_signin";
/// How long a session lives without being used.
pub const IDLE: Duration = Duration::from_secs(2 * 3600);
/// How long a session lives at most.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
/// Wrong passwords in a row that lock a name ...
pub const MAX_FAILURES: u32 = 5;
/// ... for this long.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// 32 random bytes, hex; an error when the operating system's generator fails (never a
/// guessable token).
pub fn token() -> Result<String, String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| format!("the random generator failed: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Compare secrets in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub account: String,
    pub csrf: String,
    created: Instant,
    last_used: Instant,
}

impl Session {
    /// A session that no cookie names, for rendering pages without HTTP (benchmarks).
    pub fn detached(account: &str) -> Session {
        let now = Instant::now();
        Session {
            account: account.to_string(),
            csrf: String::new(),
            created: now,
            last_used: now,
        }
    }
}

/// The signed-in sessions, by token.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A new session for `account`: its token (the cookie's value).
    pub fn start(&self, account: &str) -> Result<String, String> {
        self.start_at(account, Instant::now())
    }

    fn start_at(&self, account: &str, now: Instant) -> Result<String, String> {
        let t = token()?;
        let s = Session {
            account: account.to_string(),
            csrf: token()?,
            created: now,
            last_used: now,
        };
        if let Ok(mut live) = self.live.lock() {
            live.retain(|_, s| alive(s, now));
            live.insert(t.clone(), s);
        }
        Ok(t)
    }

    /// The session of `token` when it is alive (and marked used now).
    pub fn get(&self, token: &str) -> Option<Session> {
        self.get_at(token, Instant::now())
    }

    fn get_at(&self, token: &str, now: Instant) -> Option<Session> {
        let mut live = self.live.lock().ok()?;
        let s = live.get_mut(token)?;
        if !alive(s, now) {
            live.remove(token);
            return None;
        }
        s.last_used = now;
        Some(s.clone())
    }

    pub fn end(&self, token: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(token);
        }
    }
}

fn alive(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last_used) < IDLE && now.duration_since(s.created) < ABSOLUTE
}

/// Wrong passwords per account name: after [`MAX_FAILURES`] in a row, the name is locked for
/// [`LOCKOUT`], and even the right password is refused until then.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// When `name` is locked, how long it stays locked.
    pub fn locked(&self, name: &str) -> Option<Duration> {
        self.locked_at(name, Instant::now())
    }

    fn locked_at(&self, name: &str, now: Instant) -> Option<Duration> {
        let f = self.failures.lock().ok()?;
        let (n, last) = f.get(name)?;
        let since = now.duration_since(*last);
        (*n >= MAX_FAILURES && since < LOCKOUT).then(|| LOCKOUT - since)
    }

    pub fn failed(&self, name: &str) {
        self.failed_at(name, Instant::now())
    }

    fn failed_at(&self, name: &str, now: Instant) {
        if let Ok(mut f) = self.failures.lock() {
            let e = f.entry(name.to_string()).or_insert((0, now));
            // A lockout that ran out starts the count again.
            if now.duration_since(e.1) >= LOCKOUT {
                e.0 = 0;
            }
            *e = (e.0 + 1, now);
        }
    }

    pub fn succeeded(&self, name: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(name);
        }
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// A `Set-Cookie` value: host-only, the console's path, never readable by scripts, sent only
/// over HTTPS (browsers treat `localhost` as secure) and only from the console's own pages.
pub fn set_cookie(name: &str, value: &str, max_age: Duration) -> String {
    format!(
        "{name}={value}; Path=/ui; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        max_age.as_secs()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_session_expires_when_idle_or_old_and_a_forged_token_is_nobody() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let t = s.start_at("alice", t0).unwrap();
        assert_eq!(s.get_at(&t, t0).map(|x| x.account), Some("alice".into()));
        assert_eq!(s.get_at(&token().unwrap(), t0), None, "forged");
        // Used every hour, it lives until its absolute end.
        let mut now = t0;
        for _ in 0..11 {
            now += Duration::from_secs(3600);
            assert!(s.get_at(&t, now).is_some());
        }
        assert!(s.get_at(&t, t0 + ABSOLUTE).is_none(), "too old");
        let t = s.start_at("bob", t0).unwrap();
        assert!(s.get_at(&t, t0 + IDLE).is_none(), "idle");
        // Expired sessions are gone, not revived.
        assert!(s.get_at(&t, t0).is_none());
    }

    #[test]
    fn five_wrong_passwords_lock_the_name_for_the_lockout() {
        let th = Throttle::default();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert_eq!(th.locked_at("alice", t0), None, "after {i}");
            th.failed_at("alice", t0);
        }
        assert_eq!(th.locked_at("alice", t0), Some(LOCKOUT));
        assert_eq!(th.locked_at("bob", t0), None, "other names are free");
        assert_eq!(th.locked_at("alice", t0 + LOCKOUT), None);
        th.failed_at("alice", t0 + LOCKOUT);
        assert_eq!(
            th.locked_at("alice", t0 + LOCKOUT),
            None,
            "the count starts again"
        );
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let h = Some("a=1; mlinfra_session=abc; mlinfra_session2=x");
        assert_eq!(cookie(h, COOKIE), Some("abc"));
        assert_eq!(cookie(h, "b"), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
