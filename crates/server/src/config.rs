//! Server configuration: command-line flags, `VT_*` environment variables and an optional
//! TOML file (`--config`), all with the same names. Precedence: flag > environment > file >
//! built-in default.
//!
//! The TOML layer is applied by turning the file's keys into extra `--key=value` arguments
//! for the flags that neither the command line nor the environment set, then parsing again:
//! one parser, one set of validation rules and error messages for all three sources.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Parser, ValueEnum};
use ipnet::IpNet;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    /// A command-line error (or `--help`/`--version`); the binary lets clap print it.
    #[error("{0}")]
    Cli(#[from] clap::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Mode {
    /// Both listeners in one process.
    #[default]
    All,
    /// Only the agent listener (enrollment and the mTLS agent API).
    Agent,
    /// Only the dashboard listener (admin API, metrics).
    Dashboard,
}

impl Mode {
    pub fn runs_agent(self) -> bool {
        matches!(self, Mode::All | Mode::Agent)
    }

    pub fn runs_dashboard(self) -> bool {
        matches!(self, Mode::All | Mode::Dashboard)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Everything `vt-server serve` needs. The fields are global flags so that they may be given
/// before or after the subcommand, and `vt-server` without a subcommand means `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServerConfig {
    /// Directory holding the CA, the server certificate, the provisioner key and the default
    /// SQLite database.
    #[arg(long, env = "VT_DATA_DIR", default_value = "./vt-data", global = true)]
    pub data_dir: PathBuf,
    /// `sqlite:PATH` or `postgres://...`; default: SQLite in the data directory.
    #[arg(long, env = "VT_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// HTTPS listener for the dashboard and the admin API.
    #[arg(
        long,
        env = "VT_DASHBOARD_LISTEN",
        default_value = "0.0.0.0:8443",
        global = true
    )]
    pub dashboard_listen: SocketAddr,
    /// TLS listener for agents (client certificates; enrollment works without one).
    #[arg(long, env = "VT_AGENT_LISTEN", default_value = "0.0.0.0:9443", global = true)]
    pub agent_listen: SocketAddr,
    /// Which listeners this process runs, so the two roles can scale separately.
    #[arg(long, env = "VT_MODE", value_enum, default_value_t = Mode::All, global = true)]
    pub mode: Mode,
    /// Base URL browsers use, e.g. `https://audit.example.com:8443`. Its host name goes into
    /// the server certificate. Default: `https://localhost:<dashboard port>`.
    #[arg(long, env = "VT_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Base URL agents use (the CA URL in enrollment answers). Default: the public URL's host
    /// with the agent port.
    #[arg(long, env = "VT_AGENT_URL", global = true)]
    pub agent_url: Option<String>,
    /// Reverse proxy address range (CIDR) whose `X-SSL-Client-Cert` header is trusted.
    /// Repeatable; from any other peer the header is ignored.
    #[arg(long, env = "VT_TRUSTED_PROXY", value_delimiter = ',', global = true)]
    pub trusted_proxy: Vec<IpNet>,
    #[arg(long, env = "VT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Lifetime of agent certificates, e.g. 24h, 2m.
    #[arg(long, env = "VT_CERT_LIFETIME", default_value = "24h", value_parser = parse_duration, global = true)]
    pub cert_lifetime: time::Duration,
    /// How long a client may take to send its request headers (slow-client protection).
    #[arg(long, env = "VT_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub header_read_timeout: time::Duration,
    /// External step-ca mode: the step-ca base URL. vt-server then only issues one-time
    /// tokens; agents sign at step-ca.
    #[arg(long, env = "VT_EXTERNAL_STEPCA_URL", global = true)]
    pub external_stepca_url: Option<String>,
    /// Name of the step-ca JWK provisioner (the OTT issuer).
    #[arg(long, env = "VT_STEPCA_PROVISIONER", global = true)]
    pub stepca_provisioner: Option<String>,
    /// The provisioner key: a private JWK (plain or password-encrypted), or step-ca's
    /// `ca.json` whose provisioner entry carries `encryptedKey`.
    #[arg(long, env = "VT_STEPCA_KEY", global = true)]
    pub stepca_key: Option<PathBuf>,
    /// File holding the password that decrypts the provisioner key.
    #[arg(long, env = "VT_STEPCA_PASSWORD_FILE", global = true)]
    pub stepca_password_file: Option<PathBuf>,
    /// step-ca's root certificate(s), PEM: the agent listener trusts them for client
    /// certificates and tokens carry the first one's fingerprint.
    #[arg(long, env = "VT_STEPCA_ROOT", global = true)]
    pub stepca_root: Option<PathBuf>,
}

/// The flags `--config` may not set (they are about finding the file, or the CLI itself).
const NOT_IN_FILE: &[&str] = &["config", "help", "version"];

/// Wrapper used to parse a `ServerConfig` on its own (tests, embedding).
#[derive(Parser)]
#[command(name = "vt-server")]
struct Standalone {
    #[command(flatten)]
    config: ServerConfig,
    #[arg(long = "config", env = "VT_CONFIG")]
    config_file: Option<PathBuf>,
}

impl ServerConfig {
    /// Parses flags (argv without the program name), the environment and, when `--config`
    /// is given, the TOML file.
    pub fn from_args<I, T>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut argv: Vec<OsString> = vec!["vt-server".into()];
        argv.extend(args.into_iter().map(Into::into));
        let parsed: Standalone = parse_layered(argv, |s: &Standalone| s.config_file.clone())?;
        Ok(parsed.config)
    }

    /// The SQLite default in the data directory unless a URL was configured.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite:{}", self.data_dir.join("vt-audit.db").display()),
        }
    }

    pub fn external_stepca(&self) -> bool {
        self.external_stepca_url.is_some()
    }

    /// Checks combinations clap cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if let Some(url) = &self.external_stepca_url {
            if !url.starts_with("https://") {
                return invalid("--external-stepca-url must be an https:// URL");
            }
            if self.stepca_provisioner.is_none() || self.stepca_key.is_none() || self.stepca_root.is_none() {
                return invalid(
                    "external step-ca mode needs --stepca-provisioner, --stepca-key and --stepca-root",
                );
            }
        }
        for (flag, url) in [
            ("--public-url", &self.public_url),
            ("--agent-url", &self.agent_url),
        ] {
            if let Some(url) = url {
                if url_host(url).is_none() {
                    return Err(ConfigError::Invalid(format!(
                        "{flag} must look like https://HOST[:PORT]"
                    )));
                }
            }
        }
        if self.cert_lifetime < time::Duration::minutes(1) {
            return invalid("--cert-lifetime must be at least 1m");
        }
        Ok(())
    }
}

/// Parses `argv` into `P`, then — when `config_path` of the result names a TOML file —
/// appends the file's settings for every global flag that is still at its default and
/// parses again.
pub fn parse_layered<P, F>(argv: Vec<OsString>, config_path: F) -> Result<P, ConfigError>
where
    P: Parser,
    F: Fn(&P) -> Option<PathBuf>,
{
    let command = P::command();
    let matches = command.clone().try_get_matches_from(argv.clone())?;
    let first = P::from_arg_matches(&matches)?;
    let Some(path) = config_path(&first) else {
        return Ok(first);
    };
    let extra = file_arguments(&path, &command, &matches)?;
    if extra.is_empty() {
        return Ok(first);
    }
    let mut argv = argv;
    argv.extend(extra);
    let matches = command
        .try_get_matches_from(argv)
        .map_err(|err| ConfigError::File {
            path: path.clone(),
            message: err.to_string(),
        })?;
    P::from_arg_matches(&matches).map_err(|err| ConfigError::File {
        path,
        message: err.to_string(),
    })
}

fn file_arguments(
    path: &Path,
    command: &clap::Command,
    matches: &ArgMatches,
) -> Result<Vec<OsString>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let table: toml::Table = text.parse().map_err(|err: toml::de::Error| ConfigError::File {
        path: path.to_path_buf(),
        message: err.to_string(),
    })?;
    let file_error = |message: String| ConfigError::File {
        path: path.to_path_buf(),
        message,
    };
    let mut extra = Vec::new();
    for (key, value) in &table {
        // Both `data-dir` (the flag's spelling) and `data_dir` are accepted.
        let flag = key.replace('_', "-");
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_long() == Some(flag.as_str()) && !NOT_IN_FILE.contains(&flag.as_str()))
        else {
            return Err(file_error(format!("unknown setting {key:?}")));
        };
        let id = arg.get_id().as_str();
        let explicit = matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if explicit {
            continue;
        }
        let values: Vec<&toml::Value> = match value {
            toml::Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        for value in values {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => return Err(file_error(format!("{key}: unsupported value {other}"))),
            };
            extra.push(OsString::from(format!("--{flag}={text}")));
        }
    }
    Ok(extra)
}

/// `90s`, `30m`, `24h`, `7d`.
pub fn parse_duration(text: &str) -> Result<time::Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number and a unit (s, m, h, d)"))?;
    let duration = match unit {
        "s" => time::Duration::seconds(number),
        "m" => time::Duration::minutes(number),
        "h" => time::Duration::hours(number),
        "d" => time::Duration::days(number),
        _ => return Err(format!("{text:?}: unit must be s, m, h or d")),
    };
    if duration <= time::Duration::ZERO || duration > time::Duration::days(365) {
        return Err(format!("{text:?}: must be between 1s and 365d"));
    }
    Ok(duration)
}

/// The host part of `scheme://host[:port][/...]`, without brackets for IPv6.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Ok(time::Duration::hours(24)));
        assert_eq!(parse_duration("2m"), Ok(time::Duration::minutes(2)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn url_hosts() {
        assert_eq!(
            url_host("https://audit.example.com:8443/x").as_deref(),
            Some("audit.example.com")
        );
        assert_eq!(url_host("https://[::1]:9443").as_deref(), Some("::1"));
        assert_eq!(url_host("https://10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(url_host("audit.example.com"), None);
    }

    #[test]
    fn file_layer_fills_only_unset_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vt.toml");
        std::fs::write(
            &file,
            "agent-listen = \"127.0.0.1:7000\"\ndashboard_listen = \"127.0.0.1:7001\"\n\
             trusted-proxy = [\"127.0.0.1/32\", \"10.0.0.0/8\"]\ncert-lifetime = \"2m\"\n",
        )
        .unwrap();
        let config = ServerConfig::from_args([
            "--config".into(),
            file.display().to_string(),
            "--dashboard-listen".into(),
            "127.0.0.1:7777".into(),
        ])
        .unwrap();
        assert_eq!(config.agent_listen, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(
            config.dashboard_listen,
            "127.0.0.1:7777".parse().unwrap(),
            "flag wins"
        );
        assert_eq!(config.trusted_proxy.len(), 2);
        assert_eq!(config.cert_lifetime, time::Duration::minutes(2));
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vt.toml");
        std::fs::write(&file, "agent-lisen = \"127.0.0.1:7000\"\n").unwrap();
        let err = ServerConfig::from_args(["--config".to_string(), file.display().to_string()]).unwrap_err();
        assert!(err.to_string().contains("unknown setting"), "{err}");
    }
}
