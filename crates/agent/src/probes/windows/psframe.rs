//! The framing protocol between the agent and its one long-lived `powershell.exe`: each
//! check is sent as one input line and answered between begin/end marker lines. Pure, so
//! the framing is unit-tested on every platform.
//!
//! Every output line of a check travels base64-encoded UTF-8 (`##VT-LINE <b64>`), so the
//! console code page (which a service without a console cannot even set) cannot garble
//! it, and stray host output outside the frames is ignored.
#![cfg_attr(not(windows), allow(dead_code))]

pub const BEGIN: &str = "##VT-BEGIN ";
pub const LINE: &str = "##VT-LINE ";
pub const END: &str = "##VT-END ";

/// Sent once after start: no progress bars (they would be written to the output stream).
pub const PRELUDE: &str = "$ProgressPreference = 'SilentlyContinue'";

/// The single input line that runs `script` as check `id`.
///
/// The script is decoded from base64 and run as a script block with every stream merged
/// (`*>&1`, so errors and Write-Host text are evidence too). Exit status: 1 when the script
/// throws, else the last native command's exit code ($LASTEXITCODE, reset first so one check
/// cannot leak it into the next), else 0. A script that calls `exit N` ends the PowerShell
/// process itself; the agent then reports N with the output seen so far and starts a new
/// process for the next check.
pub fn wrap(script: &str, id: &str) -> String {
    let b64 = base64_encode(script.as_bytes());
    let emit = "[Console]::Out.WriteLine('##VT-LINE ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes([string]$_)))";
    format!(
        "& {{ [Console]::Out.WriteLine('{BEGIN}{id}'); $global:LASTEXITCODE = 0; $vtCode = 0; \
         try {{ & ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{b64}')))) *>&1 \
         | Out-String -Stream -Width 4096 | ForEach-Object {{ {emit} }}; \
         if ($global:LASTEXITCODE) {{ $vtCode = $global:LASTEXITCODE }} }} \
         catch {{ $_ | Out-String -Stream -Width 4096 | ForEach-Object {{ {emit} }}; $vtCode = 1 }}; \
         [Console]::Out.WriteLine('{END}{id} ' + $vtCode); [Console]::Out.Flush() }}"
    )
}

/// What a check produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub stdout: String,
    pub exit_code: i64,
}

/// Collects one check's answer from the output lines, in order.
#[derive(Debug)]
pub struct Collector {
    id: String,
    begun: bool,
    lines: Vec<String>,
}

impl Collector {
    pub fn new(id: &str) -> Self {
        Collector {
            id: id.to_string(),
            begun: false,
            lines: Vec::new(),
        }
    }

    /// Feeds one output line (without its newline); returns the answer at the end marker.
    pub fn push(&mut self, line: &str) -> Option<Answer> {
        let line = line.trim_end_matches(['\r', '\n']);
        if !self.begun {
            // Anything before our begin marker (a banner, a previous check's leftovers after
            // a timeout) is not this check's output.
            if line.strip_prefix(BEGIN) == Some(self.id.as_str()) {
                self.begun = true;
            }
            return None;
        }
        if let Some(b64) = line.strip_prefix(LINE) {
            let bytes = base64_decode(b64.trim()).unwrap_or_else(|| b64.as_bytes().to_vec());
            self.lines.push(String::from_utf8_lossy(&bytes).into_owned());
            return None;
        }
        if let Some(rest) = line.strip_prefix(END) {
            let mut parts = rest.split_whitespace();
            if parts.next() == Some(self.id.as_str()) {
                let code = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1);
                return Some(self.answer(code));
            }
        }
        None
    }

    /// The process ended before the end marker: with the begin marker seen, the script
    /// called `exit` and the process status is its exit code.
    pub fn finish_on_exit(&self, process_status: Option<i64>) -> Result<Answer, String> {
        match (self.begun, process_status) {
            (true, Some(code)) => Ok(self.answer(code)),
            (true, None) => Err("PowerShell was terminated while running the check".into()),
            (false, status) => Err(format!(
                "PowerShell exited before running the check (exit status {})",
                status.map_or("unknown".to_string(), |s| s.to_string())
            )),
        }
    }

    fn answer(&self, exit_code: i64) -> Answer {
        Answer {
            stdout: self.lines.join("\n").trim().to_string(),
            exit_code,
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in text.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in [
            "",
            "f",
            "fo",
            "foo",
            "foob",
            "fooba",
            "foobar",
            "Grüße ✓\r\n'quotes' \"and\" $vars",
        ] {
            let enc = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&enc).as_deref(), Some(s.as_bytes()), "{s}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_decode("not base64!"), None);
    }

    #[test]
    fn wrapped_script_is_one_line_carrying_the_script_and_markers() {
        let script = "Get-Service 'x'\n# a comment with 'quotes'\nexit 3";
        let line = wrap(script, "7-1");
        assert!(!line.contains('\n') && !line.contains('\r'));
        assert!(line.contains("##VT-BEGIN 7-1"));
        assert!(line.contains("##VT-END 7-1 "));
        assert!(line.contains(&base64_encode(script.as_bytes())));
        // The script text itself never appears raw, so it cannot break the framing.
        assert!(!line.contains("Get-Service"));
    }

    fn data(s: &str) -> String {
        format!("{LINE}{}", base64_encode(s.as_bytes()))
    }

    #[test]
    fn collects_between_markers_and_ignores_the_rest() {
        let mut c = Collector::new("42");
        assert_eq!(c.push("Windows PowerShell banner"), None);
        assert_eq!(
            c.push("##VT-END 41 0"),
            None,
            "a previous check's marker is ignored"
        );
        assert_eq!(
            c.push(&data("stale")),
            None,
            "data before our begin marker is ignored"
        );
        assert_eq!(c.push("##VT-BEGIN 42\r"), None);
        assert_eq!(c.push(&data("ON")), None);
        assert_eq!(
            c.push("PS C:\\> "),
            None,
            "stray host output inside the frame is ignored"
        );
        assert_eq!(c.push(&data("Grüße  ")), None);
        assert_eq!(
            c.push("##VT-END 42 0"),
            Some(Answer {
                stdout: "ON\nGrüße".into(),
                exit_code: 0
            })
        );
    }

    #[test]
    fn exit_codes_and_early_exits() {
        let mut c = Collector::new("a");
        c.push("##VT-BEGIN a");
        assert_eq!(
            c.push("##VT-END a 5"),
            Some(Answer {
                stdout: String::new(),
                exit_code: 5
            })
        );

        let mut c = Collector::new("b");
        c.push("##VT-BEGIN b");
        c.push(&data("partial"));
        // `exit 3` in the script ends powershell.exe with status 3.
        assert_eq!(
            c.finish_on_exit(Some(3)),
            Ok(Answer {
                stdout: "partial".into(),
                exit_code: 3
            })
        );
        assert!(c.finish_on_exit(None).is_err());

        let c = Collector::new("c");
        assert!(c
            .finish_on_exit(Some(0))
            .unwrap_err()
            .contains("before running the check"));
    }
}
