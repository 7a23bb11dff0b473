//! Tuner: grid or random search over the stack's space, scored by k-fold cross-validation on
//! the training rows (stratified by class for a classification); the best trial is refitted on
//! all of them. A regression's search also gives the best trial's out-of-fold errors, on which
//! its prediction interval is calibrated.

use serde::{Deserialize, Serialize};

use crate::data::split::folds;
use crate::data::{Frame, Labels};
use crate::metrics::RegressionEvaluation;
use crate::metrics::{Metric, evaluate};
use crate::model::{Family, GbtParams, Loss, Model, Params, Prepared};
use crate::rng::Rng;
use crate::transform::{Preprocessor, Rows};

/// The search space, as the stack declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Space {
    pub families: Vec<Family>,
    pub l2: Vec<f64>,
    pub max_depth: Vec<u64>,
    pub learning_rate: Vec<f64>,
    pub rounds: Vec<u64>,
    pub min_leaf: Vec<u64>,
}

/// How the search picks its trials (`model.tuning.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// The grid in order, cut at the budget.
    Grid,
    /// A seeded sample of distinct points, alternating between families.
    Random,
}

crate::names::named!(Strategy, "a search strategy", {
    Grid => "grid",
    Random => "random",
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    pub strategy: Strategy,
    pub trials: usize,
    pub folds: usize,
    pub metric: Metric,
    pub seed: u64,
    /// A regression's trees stop when their error on the validation fold has not improved for
    /// this many rounds (`model.tuning.early_stopping_rounds`; 0: they run every round).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub early_stopping_rounds: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub params: Params,
    /// Cross-validated metric: mean over folds.
    pub score: f64,
    pub fold_scores: Vec<f64>,
    /// With early stopping: the rounds the trees kept, the mean over the folds (what the
    /// refit on all training rows runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<usize>,
}

impl Trial {
    /// The parameters to refit the trial with: its rounds cut to where early stopping kept
    /// them.
    pub fn refit_params(&self) -> Params {
        match (self.params, self.stopped_at) {
            (Params::GradientBoostedTrees(p), Some(rounds)) => {
                Params::GradientBoostedTrees(GbtParams { rounds, ..p })
            }
            (p, _) => p,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    pub trials: Vec<Trial>,
    pub best: usize,
}

/// Every point of the space, family by family in the stack's order.
pub fn grid(space: &Space) -> Vec<Params> {
    let mut out = Vec::new();
    for f in &space.families {
        match f {
            Family::LogisticRegression => {
                out.extend(space.l2.iter().map(|&l2| Params::LogisticRegression { l2 }))
            }
            Family::Ridge => out.extend(space.l2.iter().map(|&l2| Params::Ridge { l2 })),
            Family::GradientBoostedTrees => {
                for &max_depth in &space.max_depth {
                    for &learning_rate in &space.learning_rate {
                        for &rounds in &space.rounds {
                            for &min_leaf in &space.min_leaf {
                                out.push(Params::GradientBoostedTrees(GbtParams {
                                    max_depth: max_depth as usize,
                                    learning_rate,
                                    rounds: rounds as usize,
                                    min_leaf: min_leaf as usize,
                                }));
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The trials to run: the grid in order (cut at the budget), or a seeded sample of distinct
/// points that alternates between families.
pub fn candidates(space: &Space, cfg: &SearchConfig) -> Vec<Params> {
    let all = grid(space);
    if cfg.strategy == Strategy::Grid || all.len() <= cfg.trials {
        return all.into_iter().take(cfg.trials).collect();
    }
    let by_family: Vec<Vec<Params>> = space
        .families
        .iter()
        .map(|f| all.iter().filter(|p| p.family() == *f).copied().collect())
        .filter(|v: &Vec<Params>| !v.is_empty())
        .collect();
    let mut rng = Rng::new(cfg.seed);
    let mut pools = by_family;
    let mut out = Vec::with_capacity(cfg.trials);
    let mut f = 0;
    while out.len() < cfg.trials && pools.iter().any(|p| !p.is_empty()) {
        let n_pools = pools.len();
        let pool = &mut pools[f % n_pools];
        f += 1;
        if pool.is_empty() {
            continue;
        }
        let i = rng.below(pool.len());
        out.push(pool.swap_remove(i));
    }
    out
}

/// What a search fits: a classification's classes, or a regression's targets and loss.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    Classes(&'a Labels),
    Values { y: &'a [f64], loss: Loss },
}

/// Run the search on the rows `train`.
pub fn search(
    frame: &Frame,
    labels: &Labels,
    train: &[usize],
    space: &Space,
    cfg: &SearchConfig,
) -> SearchResult {
    search_target(frame, Target::Classes(labels), train, space, cfg).0
}

/// Run a regression's search on the rows `train`; with the best trial's absolute out-of-fold
/// errors, one per row of `train` (each from the fold that did not fit it).
pub fn search_values(
    frame: &Frame,
    y: &[f64],
    loss: Loss,
    train: &[usize],
    space: &Space,
    cfg: &SearchConfig,
) -> (SearchResult, Vec<f64>) {
    search_target(frame, Target::Values { y, loss }, train, space, cfg)
}

fn search_target(
    frame: &Frame,
    target: Target<'_>,
    train: &[usize],
    space: &Space,
    cfg: &SearchConfig,
) -> (SearchResult, Vec<f64>) {
    let fs = match target {
        Target::Classes(labels) => {
            folds(train, &labels.y, labels.classes.len(), cfg.folds, cfg.seed)
        }
        // One stratum: plain shuffled folds.
        Target::Values { y, .. } => folds(train, &vec![0; y.len()], 1, cfg.folds, cfg.seed),
    };
    let stopping = cfg.early_stopping_rounds > 0 && matches!(target, Target::Values { .. });
    // Preprocessing is fitted per fold on that fold's training rows (no leakage), once.
    let prepared: Vec<_> = (0..cfg.folds)
        .map(|v| {
            let fit_rows: Vec<usize> = fs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != v)
                .flat_map(|(_, f)| f.iter().copied())
                .collect();
            let prep = Preprocessor::fit(frame, &fit_rows);
            let x_fit = Prepared::new(&prep, frame, fit_rows.clone());
            let x_val = Rows::new(&prep, frame, fs[v].clone());
            // A regression's trees stopped early read the fold's held-out rows as they take
            // them, once for all the trials.
            let mut row = Vec::new();
            let val_rows: Vec<Vec<f64>> = if stopping {
                (0..x_val.len())
                    .map(|r| {
                        x_val.row_into(r, &mut row);
                        row.clone()
                    })
                    .collect()
            } else {
                Vec::new()
            };
            (prep, x_fit, x_val, fit_rows, val_rows)
        })
        .collect();
    let higher = cfg.metric.higher_is_better();
    let candidates = candidates(space, cfg);
    // Every (trial, fold) fit is independent: they are spread over the cores, one thread each,
    // and their scores come back in order, so the result does not depend on the threads.
    let work: Vec<(usize, usize)> = (0..candidates.len())
        .flat_map(|t| (0..cfg.folds).map(move |v| (t, v)))
        .collect();
    let threads = crate::par::threads();
    // The folds' bins are made before the fits start, so that no fit waits on another's.
    if candidates
        .iter()
        .any(|p| matches!(p, Params::GradientBoostedTrees(_)))
    {
        let folds: Vec<usize> = (0..cfg.folds).collect();
        crate::par::map(&folds, threads, |&v| {
            prepared[v].1.bins(1);
        });
    }
    let pick =
        |rows: &[usize], all: &[usize]| -> Vec<usize> { rows.iter().map(|&i| all[i]).collect() };
    let scores = crate::par::map(&work, threads, |&(t, v)| {
        let (prep, x_fit, x_val, fit_rows, val_rows) = &prepared[v];
        match target {
            Target::Classes(labels) => {
                let y_fit = pick(fit_rows, &labels.y);
                let model =
                    Model::fit_prepared(prep.clone(), x_fit, &y_fit, labels, &candidates[t], 1);
                let proba = model.predict_rows(x_val);
                let y_val = pick(&fs[v], &labels.y);
                let k = labels.classes.len();
                (
                    evaluate(&y_val, &proba, k).metric(cfg.metric),
                    Vec::new(),
                    None,
                )
            }
            Target::Values { y, loss } => {
                let y_fit: Vec<f64> = fit_rows.iter().map(|&i| y[i]).collect();
                let y_val: Vec<f64> = fs[v].iter().map(|&i| y[i]).collect();
                let valid = stopping.then(|| crate::model::gbt::Validation {
                    rows: val_rows,
                    y: &y_val,
                    patience: cfg.early_stopping_rounds,
                });
                let model = Model::fit_prepared_values(
                    prep.clone(),
                    x_fit,
                    &y_fit,
                    &candidates[t],
                    loss,
                    1,
                    valid,
                );
                let kept = match &model.estimator {
                    crate::model::Estimator::GradientBoostedTrees(g) => Some(g.trees.len()),
                    _ => None,
                };
                let predicted = model.predict_values(x_val);
                let score = RegressionEvaluation::of(&y_val, &predicted).metric(cfg.metric);
                let errors = y_val
                    .iter()
                    .zip(&predicted)
                    .map(|(a, b)| (a - b).abs())
                    .collect();
                (score, errors, kept)
            }
        }
    });
    let mut trials = Vec::new();
    for (t, params) in candidates.into_iter().enumerate() {
        let fold_scores: Vec<f64> = scores[t * cfg.folds..(t + 1) * cfg.folds]
            .iter()
            .map(|s| s.0)
            .collect();
        let finite: Vec<f64> = fold_scores
            .iter()
            .copied()
            .filter(|s| s.is_finite())
            .collect();
        let score = if finite.is_empty() {
            f64::NAN
        } else {
            finite.iter().sum::<f64>() / finite.len() as f64
        };
        let kept: Vec<usize> = scores[t * cfg.folds..(t + 1) * cfg.folds]
            .iter()
            .filter_map(|s| s.2)
            .collect();
        // Only trees have rounds (`kept` is empty for ridge).
        let stopped_at =
            (stopping && !kept.is_empty()).then(|| kept.iter().sum::<usize>().div_ceil(kept.len()));
        trials.push(Trial {
            params,
            score,
            fold_scores,
            stopped_at,
        });
    }
    let mut best = 0;
    for (i, t) in trials.iter().enumerate() {
        let b = trials[best].score;
        let better = if higher { t.score > b } else { t.score < b };
        if better || (!b.is_finite() && t.score.is_finite()) {
            best = i;
        }
    }
    // The best trial's errors, back in the order of `train`.
    let mut errors = Vec::new();
    if matches!(target, Target::Values { .. }) && !trials.is_empty() {
        let mut by_row = std::collections::HashMap::with_capacity(train.len());
        for v in 0..cfg.folds {
            for (&i, &e) in fs[v].iter().zip(&scores[best * cfg.folds + v].1) {
                by_row.insert(i, e);
            }
        }
        errors = train
            .iter()
            .filter_map(|i| by_row.get(i).copied())
            .collect();
    }
    (SearchResult { trials, best }, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> Space {
        Space {
            families: Family::CLASSIFICATION.to_vec(),
            l2: vec![0.1, 1.0],
            max_depth: vec![2, 3],
            learning_rate: vec![0.1],
            rounds: vec![10, 20],
            min_leaf: vec![5],
        }
    }

    #[test]
    fn random_candidates_are_distinct_seeded_and_alternate_families() {
        let cfg = SearchConfig {
            strategy: Strategy::Random,
            trials: 4,
            folds: 3,
            metric: Metric::RocAuc,
            seed: 7,
            early_stopping_rounds: 0,
        };
        let c = candidates(&space(), &cfg);
        assert_eq!(c.len(), 4);
        assert_eq!(c, candidates(&space(), &cfg));
        assert_eq!(c[0].family(), Family::LogisticRegression);
        assert_eq!(c[1].family(), Family::GradientBoostedTrees);
        for (i, a) in c.iter().enumerate() {
            assert!(!c[i + 1..].contains(a), "duplicate trial");
        }
        let grid = SearchConfig {
            strategy: Strategy::Grid,
            trials: 100,
            ..cfg
        };
        assert_eq!(candidates(&space(), &grid).len(), 6);
    }
}
