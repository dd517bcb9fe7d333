//! Running as a system service: the stop signal the agent's loop watches, and (on Windows)
//! the Service Control Manager entry point.
// The `run` command (wired separately) is the user of the stop signal; until then only the
// Windows service entry and the tests are.
#![cfg_attr(not(test), allow(dead_code))]

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[cfg(not(windows))]
pub mod systemd;
#[cfg(windows)]
pub mod windows;

/// The service name the SCM knows the agent by (`sc query vt-agent`).
pub const SERVICE_NAME: &str = "vt-agent";
/// The name shown in services.msc.
pub const DISPLAY_NAME: &str = "VT-Audit Agent";
pub const DESCRIPTION: &str =
    "Audits this computer against VT-Audit security policies and reports the results.";

/// Set once when the service is asked to stop; every waiter wakes at once, so the agent
/// stops within moments of the request instead of finishing a long sleep.
#[derive(Clone, Default)]
pub struct StopSignal(Arc<(Mutex<bool>, Condvar)>);

impl StopSignal {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stop(&self) {
        let (flag, cvar) = &*self.0;
        // A poisoned lock still holds a valid bool; stopping must never fail.
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        *self.0 .0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleeps up to `timeout`; returns true as soon as a stop is requested.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let (flag, cvar) = &*self.0;
        let deadline = Instant::now() + timeout;
        let mut stopped = flag.lock().unwrap_or_else(|p| p.into_inner());
        // Loop: condition variables may wake spuriously.
        while !*stopped {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            stopped = cvar
                .wait_timeout(stopped, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_returns_false_after_the_timeout() {
        let s = StopSignal::new();
        let t = Instant::now();
        assert!(!s.wait_timeout(Duration::from_millis(30)));
        assert!(t.elapsed() >= Duration::from_millis(30));
        assert!(!s.is_stopped());
    }

    #[test]
    fn stop_wakes_waiters_promptly() {
        let s = StopSignal::new();
        let waiter = {
            let s = s.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                (s.wait_timeout(Duration::from_secs(30)), t.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        s.stop();
        let (stopped, waited) = waiter.join().unwrap();
        assert!(stopped);
        assert!(waited < Duration::from_secs(5));
        assert!(s.is_stopped());
        // Once stopped, waiting returns at once.
        assert!(s.wait_timeout(Duration::from_secs(30)));
    }
}
