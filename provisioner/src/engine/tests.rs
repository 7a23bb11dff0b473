//! The engine over an in-memory fake provider: plans, the order of apply, a failure at every
//! step followed by a resume that converges, deletes dependents first, and the lock. The real
//! providers are proven by the CLI's tests (local), the moto server (AWS) and Azurite; these
//! prove the engine's own logic, which none of them can fail at will.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::apply::{ApplyError, apply};
use super::graph::{Graph, Resource, ResourceKind};
use super::hooks::Hooks;
use super::plan::{Action, plan_down, plan_up};
use super::state::{FileStore, ResourceState, State};
use super::store::Store;
use crate::providers::{DeleteOptions, Deleted, Provider, ProviderError};

/// When the fake fails the mutating call it is told to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FailMode {
    /// Before changing anything (the service refused).
    Before,
    /// After the change, before answering (the connection dropped): the resource exists but
    /// the engine never hears of it.
    After,
}

/// An environment in memory: live resources by address, and every mutating call in order.
#[derive(Default)]
struct Fake {
    live: Mutex<BTreeMap<String, Value>>,
    calls: Mutex<Vec<String>>,
    /// Fail the n-th mutating call (1-based), in this way.
    fail: Option<(usize, FailMode)>,
}

impl Fake {
    /// A fake over the live resources `other` left.
    fn resume(other: &Fake) -> Fake {
        Fake {
            live: Mutex::new(other.live.lock().unwrap().clone()),
            ..Fake::default()
        }
    }

    /// Create or update: the live resource takes the desired properties.
    async fn put(&self, verb: &str, r: &Resource) -> Result<Value, ProviderError> {
        let props = r.props.clone();
        self.mutate(format!("{verb} {}", r.addr), &r.addr, |live| {
            live.insert(r.addr.clone(), props);
        })
        .await?;
        Ok(json!({ "id": r.addr }))
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// Run a mutating call: logged, maybe failed, else `change` applied to the live set.
    async fn mutate(
        &self,
        call: String,
        addr: &str,
        change: impl FnOnce(&mut BTreeMap<String, Value>),
    ) -> Result<(), ProviderError> {
        // Let concurrent steps interleave, as a network call would.
        tokio::task::yield_now().await;
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(call);
            calls.len()
        };
        match self.fail {
            Some((at, FailMode::Before)) if at == n => {
                Err(ProviderError::new(addr, "Injected", "refused"))
            }
            Some((at, FailMode::After)) if at == n => {
                change(&mut self.live.lock().unwrap());
                Err(ProviderError::new(addr, "Injected", "no answer"))
            }
            _ => {
                change(&mut self.live.lock().unwrap());
                Ok(())
            }
        }
    }
}

impl Provider for Fake {
    fn target(&self) -> String {
        "the fake".into()
    }

    async fn read(
        &self,
        addr: &str,
        _: ResourceKind,
        _: Option<&ResourceState>,
    ) -> Result<Option<Value>, ProviderError> {
        Ok(self.live.lock().unwrap().get(addr).cloned())
    }

    async fn create(&self, r: &Resource) -> Result<Value, ProviderError> {
        self.put("create", r).await
    }

    async fn update(
        &self,
        r: &Resource,
        _: &[super::plan::Change],
    ) -> Result<Value, ProviderError> {
        self.put("update", r).await
    }

    async fn delete(
        &self,
        addr: &str,
        _: &ResourceState,
        _: DeleteOptions,
    ) -> Result<Deleted, ProviderError> {
        let mut existed = false;
        self.mutate(format!("delete {addr}"), addr, |live| {
            existed = live.remove(addr).is_some();
        })
        .await?;
        Ok(Deleted::if_existed(existed))
    }

    fn adopted_outputs(&self, r: &Resource) -> Value {
        json!({ "id": r.addr })
    }
}

fn res(addr: &str, kind: ResourceKind, props: Value, deps: &[&str]) -> Resource {
    Resource {
        addr: addr.into(),
        kind,
        props,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
    }
}

/// A small platform: a lake, two roles and functions, a schedule that needs one function, and
/// an API that needs both.
fn graph(memory: u64) -> Graph {
    Graph::from_resources(vec![
        res(
            "api",
            ResourceKind::Api,
            json!({"stage": "v1"}),
            &["function.a", "function.b"],
        ),
        res(
            "schedule.a",
            ResourceKind::Schedule,
            json!({"rate": "1 day"}),
            &["function.a"],
        ),
        res(
            "function.a",
            ResourceKind::Function,
            json!({"memory": memory}),
            &["role.a", "lake"],
        ),
        res(
            "function.b",
            ResourceKind::Function,
            json!({"memory": 128}),
            &["role.b", "lake"],
        ),
        res(
            "role.a",
            ResourceKind::Role,
            json!({"actions": ["s3:GetObject"]}),
            &[],
        ),
        res(
            "role.b",
            ResourceKind::Role,
            json!({"actions": ["s3:PutObject"]}),
            &[],
        ),
        res("lake", ResourceKind::Lake, json!({"versioning": true}), &[]),
    ])
    .unwrap()
}

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store: Store = Arc::new(FileStore::new(dir.path().join("state.json")));
        Env { _dir: dir, store }
    }

    async fn state(&self) -> State {
        self.store
            .load("s", "fake")
            .await
            .unwrap()
            .unwrap_or_else(|| State::new("s", "fake"))
    }

    /// Plan an `up` of `g` and apply it.
    async fn up(&self, g: &Graph, fake: &Fake) -> Result<super::apply::Report, ApplyError> {
        let plan = plan_up(g, &self.state().await, fake).await.unwrap();
        self.apply(&plan, fake, false).await
    }

    /// Apply `plan` to the recorded state, cancelled from the start or not.
    async fn apply(
        &self,
        plan: &super::plan::Plan,
        fake: &Fake,
        cancelled: bool,
    ) -> Result<super::apply::Report, ApplyError> {
        let mut state = self.state().await;
        apply(
            plan,
            fake,
            &self.store,
            &mut state,
            DeleteOptions::default(),
            &Hooks::default(),
            &AtomicBool::new(cancelled),
            &mut |_| {},
        )
        .await
    }
}

/// The position of `call` in `calls`.
fn at(calls: &[String], call: &str) -> usize {
    calls
        .iter()
        .position(|c| c == call)
        .unwrap_or_else(|| panic!("`{call}` was not called: {calls:?}"))
}

#[tokio::test]
async fn a_first_plan_creates_everything_and_apply_creates_dependencies_first() {
    let env = Env::new();
    let g = graph(256);
    let fake = Fake::default();
    let plan = plan_up(&g, &env.state().await, &fake).await.unwrap();
    assert_eq!(plan.summary.create, 7);
    assert!(plan.steps.iter().all(|s| s.action == Action::Create));
    // Planning changed nothing.
    assert!(fake.calls().is_empty());

    let report = env.up(&g, &fake).await.unwrap();
    assert_eq!(report.created, 7);
    let calls = fake.calls();
    assert_eq!(calls.len(), 7, "{calls:?}");
    for r in g.resources.values() {
        for d in &r.depends_on {
            assert!(
                at(&calls, &format!("create {d}")) < at(&calls, &format!("create {}", r.addr)),
                "`{}` was created before `{d}`: {calls:?}",
                r.addr
            );
        }
    }
    let state = env.state().await;
    assert_eq!(state.resources.len(), 7);
    // The state keeps the graph's order, whatever order the steps finished in.
    assert_eq!(
        state.resources.keys().collect::<Vec<_>>(),
        g.resources.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        state.resources["function.a"].outputs,
        json!({"id": "function.a"})
    );
}

#[tokio::test]
async fn an_unchanged_graph_plans_nothing_and_applies_without_a_call() {
    let env = Env::new();
    let g = graph(256);
    let first = Fake::default();
    env.up(&g, &first).await.unwrap();
    let serial = env.state().await.serial;

    let fake = Fake::resume(&first);
    let plan = plan_up(&g, &env.state().await, &fake).await.unwrap();
    assert!(!plan.has_changes(), "{plan:?}");
    assert_eq!(plan.summary.unchanged, 7);
    let report = env.up(&g, &fake).await.unwrap();
    assert_eq!(report.steps(), 0);
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(env.state().await.serial, serial, "the state was written");
}

#[tokio::test]
async fn one_changed_property_is_one_update_with_old_and_new() {
    let env = Env::new();
    let first = Fake::default();
    env.up(&graph(256), &first).await.unwrap();

    let fake = Fake::resume(&first);
    let plan = plan_up(&graph(512), &env.state().await, &fake)
        .await
        .unwrap();
    let changed: Vec<_> = plan.changes().collect();
    assert_eq!(changed.len(), 1, "{plan:?}");
    assert_eq!(changed[0].addr, "function.a");
    assert_eq!(changed[0].action, Action::Update);
    assert_eq!(changed[0].changes[0].field, "memory");
    assert_eq!(changed[0].changes[0].old, json!(256));
    assert_eq!(changed[0].changes[0].new, json!(512));
    env.up(&graph(512), &fake).await.unwrap();
    assert_eq!(fake.calls(), vec!["update function.a"]);
    assert_eq!(
        env.state().await.resources["function.a"].props["memory"],
        512
    );
}

#[tokio::test]
async fn a_resource_deleted_outside_is_created_again_and_a_dropped_one_deleted() {
    let env = Env::new();
    let first = Fake::default();
    env.up(&graph(256), &first).await.unwrap();
    let fake = Fake::resume(&first);
    fake.live.lock().unwrap().remove("schedule.a");
    let smaller = Graph::from_resources(
        graph(256)
            .resources
            .into_values()
            .filter(|r| r.addr != "api")
            .collect(),
    )
    .unwrap();
    let plan = plan_up(&smaller, &env.state().await, &fake).await.unwrap();
    let actions: BTreeMap<_, _> = plan
        .changes()
        .map(|s| (s.addr.as_str(), (s.action, s.reason.clone())))
        .collect();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!(actions["schedule.a"].0, Action::Create);
    assert!(
        actions["schedule.a"]
            .1
            .as_deref()
            .unwrap()
            .contains("deleted outside")
    );
    assert_eq!(actions["api"].0, Action::Delete);
    env.up(&smaller, &fake).await.unwrap();
    let calls = fake.calls();
    // Deletes of dropped resources come after the creates and updates.
    assert!(
        at(&calls, "create schedule.a") < at(&calls, "delete api"),
        "{calls:?}"
    );
    assert!(!env.state().await.resources.contains_key("api"));
}

/// For every step, and for both ways a call can fail: the failed apply leaves a state that
/// records exactly what was applied, and the next `up` converges without creating anything
/// twice.
#[tokio::test]
async fn a_failure_at_every_step_is_followed_by_a_resume_that_converges() {
    let g = graph(256);
    for mode in [FailMode::Before, FailMode::After] {
        for step in 1..=g.len() {
            let env = Env::new();
            let failing = Fake {
                fail: Some((step, mode)),
                ..Fake::default()
            };
            let Err(ApplyError::Failed { failed, report, .. }) = env.up(&g, &failing).await else {
                panic!("{mode:?} at {step}: the apply did not fail");
            };
            assert_eq!(failed.len(), 1, "{mode:?} at {step}");
            assert!(report.created < g.len(), "{mode:?} at {step}");
            // Recorded = what was created and answered; never the failed step.
            let state = env.state().await;
            let live = failing.live.lock().unwrap().clone();
            for addr in state.resources.keys() {
                assert!(
                    live.contains_key(addr),
                    "{mode:?} at {step}: `{addr}` recorded, not live"
                );
            }
            assert!(
                !state.resources.contains_key(&failed[0].addr),
                "{mode:?} at {step}"
            );
            assert_eq!(state.resources.len(), report.created, "{mode:?} at {step}");
            // Nothing started after the failure whose dependencies had not finished.
            for addr in state.resources.keys() {
                for d in &g.get(addr).unwrap().depends_on {
                    assert!(
                        state.resources.contains_key(d),
                        "{mode:?} at {step}: {addr} before {d}"
                    );
                }
            }

            let resumed = Fake::resume(&failing);
            env.up(&g, &resumed).await.unwrap();
            let state = env.state().await;
            assert_eq!(state.resources.len(), g.len(), "{mode:?} at {step}");
            let live = resumed.live.lock().unwrap().clone();
            for r in g.resources.values() {
                assert_eq!(
                    live.get(&r.addr),
                    Some(&r.props),
                    "{mode:?} at {step}: {}",
                    r.addr
                );
                assert_eq!(state.resources[&r.addr].props, r.props);
            }
            // Created once in all: what the failed run created is adopted, not created again.
            let mut creates: BTreeMap<String, usize> = BTreeMap::new();
            for c in failing.calls().iter().chain(resumed.calls().iter()) {
                if let Some(a) = c.strip_prefix("create ") {
                    *creates.entry(a.to_string()).or_default() += 1;
                }
            }
            let failed_before = mode == FailMode::Before;
            for (addr, n) in &creates {
                let expected = if failed_before && *addr == failed[0].addr {
                    2
                } else {
                    1
                };
                assert_eq!(
                    *n, expected,
                    "{mode:?} at {step}: `{addr}` created {n} times"
                );
            }
            // And then nothing is left to do.
            let again = Fake::resume(&resumed);
            let plan = plan_up(&g, &env.state().await, &again).await.unwrap();
            assert!(!plan.has_changes(), "{mode:?} at {step}: {plan:?}");
            assert!(plan.steps.iter().all(|s| !s.record), "{mode:?} at {step}");
        }
    }
}

#[tokio::test]
async fn down_deletes_dependents_first_and_the_lake_last() {
    let env = Env::new();
    let first = Fake::default();
    env.up(&graph(256), &first).await.unwrap();
    let fake = Fake::resume(&first);
    let plan = plan_down(&env.state().await);
    assert_eq!(plan.summary.delete, 7);
    env.apply(&plan, &fake, false).await.unwrap();
    let calls = fake.calls();
    assert_eq!(
        calls.last().map(String::as_str),
        Some("delete lake"),
        "{calls:?}"
    );
    for r in graph(256).resources.values() {
        for d in &r.depends_on {
            assert!(
                at(&calls, &format!("delete {}", r.addr)) < at(&calls, &format!("delete {d}")),
                "`{d}` was deleted before `{}`, which depends on it: {calls:?}",
                r.addr
            );
        }
    }
    assert!(fake.live.lock().unwrap().is_empty());
    assert!(env.state().await.resources.is_empty());
}

#[tokio::test]
async fn a_cancelled_apply_starts_nothing_and_says_so() {
    let env = Env::new();
    let fake = Fake::default();
    let plan = plan_up(&graph(256), &env.state().await, &fake)
        .await
        .unwrap();
    let e = env.apply(&plan, &fake, true).await.unwrap_err();
    assert!(matches!(e, ApplyError::Interrupted { total: 7, .. }), "{e}");
    assert!(e.to_string().contains("0 of 7 steps"), "{e}");
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn a_second_lock_names_the_holder_until_the_first_is_released() {
    let env = Env::new();
    let first = env.store.lock("up").await.unwrap();
    let e = env.store.lock("down").await.unwrap_err().to_string();
    assert!(e.contains("mlinfra up"), "{e}");
    assert!(e.contains(&std::process::id().to_string()), "{e}");
    first.release().await;
    env.store.lock("down").await.unwrap().release().await;
}
