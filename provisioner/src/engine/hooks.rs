//! Test hooks: failure injection and slow steps, read from the environment.
//!
//! They exist so the test suite can prove that a real `up` (the local provider's, AWS's on the
//! moto server) interrupted after any step leaves valid state, and that a second concurrent
//! `up` meets the lock. Only a build with the feature `test-hooks` (the tests' build) reads
//! them; a release build has none. The engine's own tests fail a fake provider at every step
//! instead (`engine::tests`).

use std::time::Duration;

/// Stop with an error once this many apply steps have completed and been recorded.
pub const FAIL_AFTER_VAR: &str = "MLINFRA_TEST_FAIL_AFTER";
/// Sleep this many milliseconds inside every apply step.
pub const STEP_DELAY_VAR: &str = "MLINFRA_TEST_STEP_DELAY_MS";

#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub fail_after: Option<usize>,
    pub step_delay: Option<Duration>,
}

impl Hooks {
    /// The hooks the environment sets; none without the feature `test-hooks`.
    #[cfg(not(feature = "test-hooks"))]
    pub fn from_env() -> Self {
        Hooks::default()
    }

    /// The hooks the environment sets.
    #[cfg(feature = "test-hooks")]
    pub fn from_env() -> Self {
        let num = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Hooks {
            fail_after: num(FAIL_AFTER_VAR).map(|n| n as usize),
            step_delay: num(STEP_DELAY_VAR).map(Duration::from_millis),
        }
    }
}
