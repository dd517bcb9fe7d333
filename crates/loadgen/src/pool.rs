//! A bounded worker pool: `concurrency` tasks take item indexes from a shared counter until
//! the items run out or the deadline passes. Bounded in count (each index is taken once)
//! and in time (no new item starts after the deadline; callers bound each request too).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::task::JoinSet;
use tokio::time::Instant;

/// Runs `work(i)` for `i` in `0..count`, at most `concurrency` at a time. Returns the
/// outcomes of the items that were started, in no particular order, and the number of
/// items never started because the deadline passed.
pub async fn run<T, F, Fut>(count: usize, concurrency: usize, deadline: Instant, work: F) -> (Vec<T>, usize)
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency.clamp(1, count.max(1)) {
        let next = Arc::clone(&next);
        let work = Arc::clone(&work);
        tasks.spawn(async move {
            let mut done = Vec::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                done.push(work(i).await);
            }
            done
        });
    }
    let mut outcomes = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(done) => outcomes.extend(done),
            // A panicking work item is a bug in this program; surface it rather than
            // reporting a benchmark with silently missing items.
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_) => {}
        }
    }
    let started = next.load(Ordering::Relaxed).min(count);
    (outcomes, count - started)
}
