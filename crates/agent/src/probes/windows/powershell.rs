//! The `powershell` and `cmd` probes (legacy command checks).
//!
//! All PowerShell checks of one run share ONE `powershell.exe`, started on first use: the
//! original agent started one per rule and paid 0.3–1 s of start-up each time. Checks are
//! framed by marker lines (see `psframe`) and answered one at a time; a check that overruns
//! its timeout gets the process killed, and the next check starts a fresh one.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::windows::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vt_policy::probe::Probe;
use vt_policy::{Observation, Value};

use super::psframe::{wrap, Answer, Collector, PRELUDE};
use crate::context::HostContext;
use crate::probes::command::run_with_timeout;
use crate::probes::{error, ProbeFailure, ProbeResult};

/// CREATE_NO_WINDOW: no console window flashes up on a user's desktop.
const CREATE_NO_WINDOW: u32 = 0x0800_0000;

/// Output lines kept per check; a runaway script cannot exhaust memory.
const MAX_LINE_BYTES: usize = 64 * 1024;

fn system32(file: &str) -> PathBuf {
    // Absolute paths, so a program of the same name in the working directory or on PATH
    // is never started instead.
    let root = std::env::var_os("SystemRoot").unwrap_or_else(|| "C:\\Windows".into());
    PathBuf::from(root).join("System32").join(file)
}

struct Session {
    child: Child,
    stdin: ChildStdin,
    /// Output lines; `None` once stdout reached end of file.
    lines: Receiver<Option<String>>,
}

impl Session {
    fn start() -> Result<Session, String> {
        let exe = system32(r"WindowsPowerShell\v1.0\powershell.exe");
        let mut child = Command::new(&exe)
            .args([
                "-NoLogo",
                "-NoProfile",
                "-NonInteractive",
                "-ExecutionPolicy",
                "Bypass",
                "-Command",
                "-",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Errors of checks are merged into their output by the wrapper; the host's own
            // stderr has nothing a check result needs.
            .stderr(Stdio::null())
            .creation_flags(CREATE_NO_WINDOW)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("cannot connect to PowerShell's input and output".into());
        };
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("powershell-out".into())
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader
                        .by_ref()
                        .take(MAX_LINE_BYTES as u64)
                        .read_until(b'\n', &mut buf)
                    {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            if tx.send(Some(String::from_utf8_lossy(&buf).into_owned())).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = tx.send(None);
            })
            .map_err(|e| format!("cannot start the PowerShell reader: {e}"))?;
        let mut session = Session {
            child,
            stdin,
            lines: rx,
        };
        session.send(PRELUDE)?;
        Ok(session)
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        writeln!(self.stdin, "{line}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| format!("cannot send the check to PowerShell: {e}"))
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The run's PowerShell process (none until the first PowerShell check).
#[derive(Default)]
struct PowerShell(Mutex<Option<Session>>);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn run_script(ctx: &HostContext, script: &str, timeout: Duration) -> Result<Answer, ProbeFailure> {
    let deadline = Instant::now() + timeout;
    let shared = ctx.shared(PowerShell::default);
    // Checks take turns in the one process; the time spent waiting counts against the
    // check's own timeout.
    let mut slot = shared.0.lock().unwrap_or_else(|p| p.into_inner());
    let mut session = match slot.take() {
        Some(s) => s,
        None => Session::start().map_err(error)?,
    };
    let id = format!(
        "{}-{}",
        std::process::id(),
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    );
    if let Err(e) = session.send(&wrap(script, &id)) {
        session.kill();
        return Err(error(e));
    }
    let mut collector = Collector::new(&id);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match session.lines.recv_timeout(left) {
            Ok(Some(line)) => {
                if let Some(answer) = collector.push(&line) {
                    *slot = Some(session);
                    return Ok(answer);
                }
            }
            Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                // The process ended: a script's `exit N`, or PowerShell failing to start.
                let status = session.child.wait().ok().and_then(|s| s.code()).map(i64::from);
                return collector.finish_on_exit(status).map_err(error);
            }
            Err(RecvTimeoutError::Timeout) => {
                session.kill();
                return Err(error(format!(
                    "timed out after {} ms (the PowerShell process was stopped; the next check starts a new one)",
                    timeout.as_millis()
                )));
            }
        }
    }
}

fn output_observation(probe: &Probe, stdout: String, exit_code: i64) -> Observation {
    match probe.property() {
        Some("exit_code") => Observation::Scalar(Value::Int(exit_code)),
        _ => Observation::text(stdout),
    }
}

pub fn observe(probe: &Probe, ctx: &HostContext, timeout: Duration) -> ProbeResult {
    let answer = run_script(ctx, &probe.arg_text(), timeout)?;
    Ok(output_observation(probe, answer.stdout, answer.exit_code))
}

/// `cmd: LINE` runs `cmd.exe /D /S /C "LINE"` once per check through the shared command
/// runner (timeout, bounded output, process killed on timeout).
pub fn observe_cmd(probe: &Probe, timeout: Duration) -> ProbeResult {
    let line = probe.arg_text();
    let mut cmd = Command::new(system32("cmd.exe"));
    // /D: no AutoRun commands from the registry; /S with the outer quotes: cmd strips
    // exactly those quotes and runs the line as written, with its own quoting intact.
    cmd.args(["/D", "/S", "/C"])
        .raw_arg(format!("\"{line}\""))
        .creation_flags(CREATE_NO_WINDOW);
    let out = run_with_timeout(cmd, timeout)?;
    let code = out.exit_code()?;
    Ok(output_observation(probe, out.stdout_text(), code))
}
