//! Work spread over the machine's cores with results in input order, so that what is computed
//! never depends on which thread ran which part, or on how many threads there were.

use std::sync::atomic::{AtomicUsize, Ordering};

/// How many threads to use: `MLINFRA_THREADS` when set to a positive number, otherwise the
/// cores available to this process.
pub fn threads() -> usize {
    std::env::var("MLINFRA_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// `f` of every item, in the items' order, on up to `threads` threads that take the next item
/// as they finish one (so uneven items balance). A panic in `f` is raised again here.
pub fn map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return done;
                        };
                        done.push((i, f(item)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut all: Vec<(usize, R)> = parts.into_iter().flatten().collect();
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_items_order_whatever_the_thread_count() {
        let items: Vec<u64> = (0..1000).collect();
        let expected: Vec<u64> = items.iter().map(|i| i * i).collect();
        for threads in [1, 2, 3, 8, 5000] {
            assert_eq!(
                map(&items, threads, |i| i * i),
                expected,
                "{threads} threads"
            );
        }
        assert!(map(&[] as &[u64], 4, |i| *i).is_empty());
    }
}
