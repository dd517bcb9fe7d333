//! The `command` probe, and the one place the agent starts processes: stdin closed,
//! output bounded, and a deadline after which the process and everything it started are
//! killed and reaped. Other probes (systemctl, rpm, powershell) go through
//! [`run_with_timeout`] so they get the same guarantees.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vt_policy::probe::{Probe, ProbeArg};
use vt_policy::{Observation, Value};

use super::{error, require_live, ProbeFailure, ProbeResult};
use crate::context::HostContext;

/// Output beyond this is read and discarded, so a chatty command cannot exhaust memory
/// yet still runs to completion instead of blocking on a full pipe.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// How long to wait for output still held open by a process's own children once the
/// process itself has exited and the deadline has passed.
const PIPE_GRACE: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct CommandOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl CommandOutput {
    /// Standard output as text, trimmed; invalid UTF-8 is replaced rather than rejected
    /// because tools print file names and messages in whatever encoding they have.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_string()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_string()
    }

    /// The exit code, or an error when the process was ended by a signal (there is no
    /// code a policy could meaningfully compare).
    pub fn exit_code(&self) -> Result<i64, ProbeFailure> {
        if let Some(code) = self.status.code() {
            return Ok(i64::from(code));
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(sig) = self.status.signal() {
                return Err(error(format!("the command was killed by signal {sig}")));
            }
        }
        Err(error(format!(
            "the command ended without an exit code ({})",
            self.status
        )))
    }
}

pub fn observe(probe: &Probe, ctx: &HostContext, timeout: Duration) -> ProbeResult {
    require_live(ctx, "the command probe")?;
    let cmd = build(probe)?;
    let out = run_with_timeout(cmd, timeout)?;
    match probe.property().unwrap_or("stdout") {
        "stdout" => Ok(Observation::text(out.stdout_text())),
        "stderr" => Ok(Observation::text(out.stderr_text())),
        "exit_code" => Ok(Observation::scalar(Value::Int(out.exit_code()?))),
        other => Err(error(format!("the command probe has no property {other:?}"))),
    }
}

fn build(probe: &Probe) -> Result<Command, ProbeFailure> {
    let shell = probe.bool_param("shell").unwrap_or(false);
    if shell {
        // A list with `shell: true` is taken as words of one command line: the author
        // asked for a shell, and joining is what typing the words would do.
        let line = match &probe.arg {
            ProbeArg::Text(s) => s.clone(),
            ProbeArg::List(items) => items.join(" "),
            ProbeArg::Filter(_) => return Err(error("the command probe needs a string or a list")),
        };
        if line.trim().is_empty() {
            return Err(error("the command is empty"));
        }
        return Ok(shell_command(&line));
    }
    let argv: Vec<String> = match &probe.arg {
        ProbeArg::Text(s) => s.split_whitespace().map(str::to_string).collect(),
        ProbeArg::List(items) => items.clone(),
        ProbeArg::Filter(_) => return Err(error("the command probe needs a string or a list")),
    };
    let Some((program, args)) = argv.split_first() else {
        return Err(error("the command is empty"));
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    Ok(cmd)
}

#[cfg(unix)]
fn shell_command(line: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(line);
    cmd
}

#[cfg(windows)]
fn shell_command(line: &str) -> Command {
    use std::os::windows::process::CommandExt;
    let mut cmd = Command::new("cmd.exe");
    // cmd.exe does its own parsing of everything after /C; Rust's argument quoting
    // would add quotes cmd does not strip.
    cmd.arg("/C").raw_arg(line);
    cmd
}

/// One captured output stream, filled by a reader thread.
struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Capture {
    fn start(mut pipe: impl Read + Send + 'static, name: &str) -> std::io::Result<Capture> {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel();
        let sink = Arc::clone(&buf);
        std::thread::Builder::new()
            .name(format!("command-{name}"))
            .spawn(move || {
                let mut chunk = [0u8; 8192];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => {
                            let mut b = sink.lock().unwrap_or_else(|p| p.into_inner());
                            let room = MAX_OUTPUT_BYTES.saturating_sub(b.len());
                            b.extend_from_slice(&chunk[..n.min(room)]);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                let _ = tx.send(());
            })?;
        Ok(Capture { buf, done })
    }

    /// Waits until the stream closes or `until`, then takes what was read so far.
    fn finish(self, until: Instant) -> (Vec<u8>, bool) {
        let wait = until.saturating_duration_since(Instant::now());
        // A disconnected channel means the reader thread is gone, so the stream is done too.
        let complete = !matches!(self.done.recv_timeout(wait), Err(mpsc::RecvTimeoutError::Timeout));
        let data = std::mem::take(&mut *self.buf.lock().unwrap_or_else(|p| p.into_inner()));
        (data, complete)
    }
}

/// Runs `cmd` with stdin closed and stdout/stderr captured (each bounded to
/// [`MAX_OUTPUT_BYTES`]). After `timeout` the process is killed — on Unix its whole
/// process group, so a shell's children go too — and reaped, and the result is an error.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<CommandOutput, ProbeFailure> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group lets a timeout kill grandchildren (`sh -c`, pipelines)
        // that would otherwise outlive the agent's interest and keep the pipes open.
        cmd.process_group(0);
    }
    let deadline = Instant::now() + timeout;
    let mut child = cmd
        .spawn()
        .map_err(|e| error(format!("cannot start {program}: {e}")))?;

    let captures = (
        child
            .stdout
            .take()
            .map(|p| Capture::start(p, "stdout"))
            .transpose(),
        child
            .stderr
            .take()
            .map(|p| Capture::start(p, "stderr"))
            .transpose(),
    );
    let (stdout, stderr) = match captures {
        (Ok(out), Ok(err)) => (out, err),
        (Err(e), _) | (_, Err(e)) => {
            kill_tree(&mut child);
            let _ = child.wait();
            return Err(error(format!("cannot capture the output of {program}: {e}")));
        }
    };

    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                kill_tree(&mut child);
                let _ = child.wait();
                return Err(error(format!("cannot wait for {program}: {e}")));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            kill_tree(&mut child);
            // Reaping here is what keeps the killed process from lingering as a zombie.
            let _ = child.wait();
            return Err(error(format!("timed out after {} ms", timeout.as_millis())));
        }
        std::thread::sleep(pause.min(deadline - now));
        // Quick commands are noticed within a few ms; long ones are polled 50 times a second.
        pause = (pause * 2).min(Duration::from_millis(20));
    };

    let (out, out_done) = stdout.map_or((Vec::new(), true), |c| c.finish(deadline));
    let (err, err_done) = stderr.map_or((Vec::new(), true), |c| c.finish(deadline));
    if !(out_done && err_done) {
        // The process exited but something it started still holds the pipes open.
        // Those stragglers are in its process group; end them rather than wait. (The
        // group id cannot have been reused: POSIX keeps it reserved while members live.)
        #[cfg(unix)]
        kill_group(child.id());
        std::thread::sleep(PIPE_GRACE);
    }
    Ok(CommandOutput {
        status,
        stdout: out,
        stderr: err,
    })
}

#[cfg(unix)]
fn kill_group(pgid: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(pgid) {
        if pgid > 0 {
            // SAFETY: kill(2) takes plain integers; a negative pid addresses the process
            // group this function's caller created for the child.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

fn kill_tree(child: &mut std::process::Child) {
    #[cfg(unix)]
    kill_group(child.id());
    // Also the direct child, in case it left its group; an error just means it is gone.
    let _ = child.kill();
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use vt_policy::probe::{Param, ProbeKind};

    fn probe(arg: ProbeArg, property: &str, shell: bool) -> Probe {
        let mut params = BTreeMap::new();
        if shell {
            params.insert("shell".to_string(), Param::Bool(true));
        }
        Probe {
            kind: ProbeKind::Command,
            arg,
            property: Some(property.to_string()),
            params,
        }
    }

    fn text(s: &str) -> ProbeArg {
        ProbeArg::Text(s.to_string())
    }

    const T: Duration = Duration::from_secs(10);

    #[test]
    fn stdout_is_trimmed_and_split_on_whitespace_without_a_shell() {
        let ctx = HostContext::live();
        let obs = observe(&probe(text("echo  hello   $HOME"), "stdout", false), &ctx, T).unwrap();
        // No shell: $HOME is passed literally, and echo joins its arguments with one space.
        assert_eq!(obs, Observation::text("hello $HOME"));
    }

    #[test]
    fn shell_mode_runs_through_sh() {
        let ctx = HostContext::live();
        let obs = observe(&probe(text("printf 'a b' | tr a-z A-Z"), "stdout", true), &ctx, T).unwrap();
        assert_eq!(obs, Observation::text("A B"));
    }

    #[test]
    fn argv_list_keeps_spaces_inside_items() {
        let ctx = HostContext::live();
        let arg = ProbeArg::List(vec!["printf".into(), "%s|".into(), "a b".into(), "c".into()]);
        let obs = observe(&probe(arg, "stdout", false), &ctx, T).unwrap();
        assert_eq!(obs, Observation::text("a b|c|"));
    }

    #[test]
    fn exit_code_and_stderr() {
        let ctx = HostContext::live();
        let p = probe(text("echo oops >&2; exit 3"), "exit_code", true);
        assert_eq!(observe(&p, &ctx, T).unwrap(), Observation::scalar(Value::Int(3)));
        let p = probe(text("echo oops >&2; exit 3"), "stderr", true);
        assert_eq!(observe(&p, &ctx, T).unwrap(), Observation::text("oops"));
        let p = probe(text("true"), "exit_code", false);
        assert_eq!(observe(&p, &ctx, T).unwrap(), Observation::scalar(Value::Int(0)));
    }

    #[test]
    fn signal_death_is_an_error() {
        let ctx = HostContext::live();
        let p = probe(text("kill -9 $$"), "exit_code", true);
        let err = observe(&p, &ctx, T).unwrap_err();
        assert_eq!(err, error("the command was killed by signal 9"));
    }

    /// Processes whose argv is exactly `argv`, anywhere on the system.
    fn processes_with_argv(argv: &[&str]) -> usize {
        let wanted: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == wanted))
            .count()
    }

    #[test]
    fn timeout_kills_the_process_group_quickly() {
        let ctx = HostContext::live();
        // The shell forks `sleep` as a grandchild (the `; true` stops sh from exec'ing
        // it), so only a process-group kill ends it. The odd duration marks our sleep.
        let p = probe(text("sleep 7.4321; true"), "stdout", true);
        let start = Instant::now();
        let err = observe(&p, &ctx, Duration::from_millis(300)).unwrap_err();
        let took = start.elapsed();
        assert_eq!(err, error("timed out after 300 ms"));
        assert!(took < Duration::from_secs(2), "took {took:?}");
        // SIGKILL is delivered asynchronously; give the kernel a moment to tear it down.
        let mut left = usize::MAX;
        for _ in 0..50 {
            left = processes_with_argv(&["sleep", "7.4321"]);
            if left == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(left, 0, "the grandchild sleep survived the timeout");
    }

    #[test]
    fn timed_out_child_is_reaped() {
        let mut cmd = Command::new("sleep");
        cmd.arg("5");
        let err = run_with_timeout(cmd, Duration::from_millis(200)).unwrap_err();
        assert_eq!(err, error("timed out after 200 ms"));
        // Our children: none may remain, not even as zombies. waitpid(-1) with WNOHANG
        // would reap other tests' children, so look at /proc instead.
        let me = std::process::id().to_string();
        let mut leftovers = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // stat: "pid (comm) state ppid ..."; comm may contain spaces, so split after ')'.
            let Some((head, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.get(1) == Some(&me.as_str()) && head.ends_with("(sleep") {
                leftovers.push(stat.clone());
            }
        }
        // Other tests may have a live `sleep` child of their own running right now, but
        // never a zombie one: every path through run_with_timeout waits for its child.
        assert!(leftovers.iter().all(|s| !s.contains(") Z ")), "{leftovers:?}");
    }

    #[test]
    fn missing_binary_is_an_error_with_the_os_message() {
        let ctx = HostContext::live();
        let p = probe(text("/nonexistent/vt-no-such-binary --x"), "stdout", false);
        let Err(ProbeFailure::Error(msg)) = observe(&p, &ctx, T) else {
            panic!("expected an error")
        };
        assert!(
            msg.starts_with("cannot start /nonexistent/vt-no-such-binary: "),
            "{msg}"
        );
        assert!(msg.contains("No such file"), "{msg}");
    }

    #[test]
    fn output_is_bounded() {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg("head -c 3000000 /dev/zero");
        let out = run_with_timeout(cmd, T).unwrap();
        assert_eq!(out.stdout.len(), MAX_OUTPUT_BYTES);
        assert_eq!(out.exit_code().unwrap(), 0);
    }

    #[test]
    fn background_grandchild_holding_the_pipe_does_not_hang_past_the_deadline() {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg("echo started; sleep 30 &");
        let start = Instant::now();
        let out = run_with_timeout(cmd, Duration::from_millis(500)).unwrap();
        assert_eq!(out.stdout_text(), "started");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn not_applicable_under_root() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = HostContext::with_root(dir.path().to_path_buf());
        let r = observe(&probe(text("true"), "stdout", false), &ctx, T);
        assert!(matches!(r, Err(ProbeFailure::NotApplicable(_))), "{r:?}");
    }
}
