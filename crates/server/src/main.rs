//! `vt-server`: the server (`serve`, also the default without a subcommand) and the
//! administrative subcommands. The subcommands work on the same data directory and
//! database as a running server (SQLite WAL allows a second process).

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use time::OffsetDateTime;
use vt_server::ca::CertificateAuthority;
use vt_server::config::{parse_duration, parse_layered, ConfigError, ServerConfig};
use vt_server::storage::{
    self, ApiRole, NewApiKey, NewAuditEntry, NewEnrollmentToken, NewUser, Storage, UserCreation,
};
use vt_server::{passwords, secrets};

#[derive(Parser)]
#[command(name = "vt-server", version, about = "VT-Audit central server")]
struct Cli {
    #[command(flatten)]
    config: ServerConfig,
    /// TOML file with the same settings as the flags (`data-dir = "..."`); flags and
    /// environment variables win over it.
    #[arg(long = "config", env = "VT_CONFIG", global = true)]
    config_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Enrollment tokens for agents.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// API keys for the admin API.
    Apikey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Local users of the dashboard.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The certificate authority.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Apply pending database migrations and exit.
    Migrate,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policy file and store it as a new immutable version.
    Import {
        file: PathBuf,
        /// Make the imported version the active policy for its OS.
        #[arg(long)]
        activate: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once, as the last line.
    Create {
        /// Validity, e.g. 30m, 24h, 7d.
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        ttl: time::Duration,
        /// How many enrollments the token allows.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
        uses: i64,
        #[arg(long, default_value = "")]
        label: String,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create an API key; it is printed once, as the last line.
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long, default_value = "")]
        label: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is asked for on the terminal (twice, not echoed), or
    /// read as one line from standard input with --password-stdin; it is never printed.
    Add {
        /// ASCII letters, digits, '.', '_', '-', '@'; unique ignoring case.
        #[arg(long)]
        username: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long, default_value = "")]
        display_name: String,
        /// Read the password from the first line of standard input (for scripts).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users (never their password hashes).
    List,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Auditor,
    Viewer,
}

impl From<RoleArg> for ApiRole {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Admin => ApiRole::Admin,
            RoleArg::Auditor => ApiRole::Auditor,
            RoleArg::Viewer => ApiRole::Viewer,
        }
    }
}

#[derive(Subcommand)]
enum CaCommand {
    /// Print the root certificate (PEM) and, on stderr, its SHA-256 fingerprint.
    ExportRoot,
    /// Offline root: install a root certificate and an intermediate created elsewhere.
    ImportIntermediate {
        #[arg(long)]
        root: PathBuf,
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        key: PathBuf,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cli: Cli = match parse_layered(argv, |cli: &Cli| cli.config_file.clone()) {
        Ok(cli) => cli,
        Err(ConfigError::Cli(err)) => err.exit(),
        Err(err) => return Err(err.into()),
    };
    let now = OffsetDateTime::now_utc();
    let Some(command) = &cli.command else {
        return serve(&cli.config).await;
    };
    match command {
        Command::Serve => serve(&cli.config).await?,
        Command::Policy {
            command: PolicyCommand::Import { file, activate },
        } => {
            let yaml =
                std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let storage = open_storage(&cli).await?;
            let result = vt_server::policy_store::import_policy(
                storage.as_ref(),
                &file.display().to_string(),
                &yaml,
                "cli",
                *activate,
                now,
            )
            .await;
            storage.close().await;
            let imported = match result {
                Ok(imported) => imported,
                Err(vt_server::policy_store::ImportError::Invalid(err)) => {
                    eprintln!("{err}");
                    std::process::exit(1);
                }
                Err(err) => return Err(err.into()),
            };
            let v = &imported.version;
            eprintln!(
                "{} {}@{} (os {}, hash {}){}",
                if imported.created {
                    "imported"
                } else {
                    "already present:"
                },
                v.policy_id,
                v.version,
                v.os,
                v.hash,
                if imported.activated { "; now active" } else { "" }
            );
        }
        Command::Token {
            command: TokenCommand::Create { ttl, uses, label },
        } => {
            let ca = open_ca(&cli.config.data_dir, now)?;
            let storage = open_storage(&cli).await?;
            let token = secrets::new_enrollment_token(&ca.root_fingerprint())?;
            let id = uuid::Uuid::new_v4().to_string();
            let expires_at = now + *ttl;
            storage
                .create_token(&NewEnrollmentToken {
                    id: id.clone(),
                    secret_hash: token.secret_hash(),
                    label: label.clone(),
                    created_at: now,
                    expires_at,
                    uses_allowed: *uses,
                })
                .await?;
            audit(
                storage.as_ref(),
                now,
                "token.create",
                &id,
                serde_json::json!({"uses": uses, "label": label}),
            )
            .await?;
            storage.close().await;
            eprintln!(
                "token {id}: {uses} use(s), expires {}",
                vt_wire::format_timestamp(expires_at)
            );
            println!("{}", token.expose());
        }
        Command::Apikey {
            command: ApiKeyCommand::Create { role, label },
        } => {
            let storage = open_storage(&cli).await?;
            let key = secrets::new_api_key()?;
            let id = uuid::Uuid::new_v4().to_string();
            let role = ApiRole::from(*role);
            storage
                .create_api_key(&NewApiKey {
                    id: id.clone(),
                    key_hash: key.hash,
                    role,
                    label: label.clone(),
                    created_at: now,
                })
                .await?;
            audit(
                storage.as_ref(),
                now,
                "apikey.create",
                &id,
                serde_json::json!({"role": role.as_str()}),
            )
            .await?;
            storage.close().await;
            eprintln!("API key {id} ({})", role.as_str());
            println!("{}", key.text);
        }
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    role,
                    display_name,
                    password_stdin,
                },
        } => {
            passwords::validate_username(username)?;
            let password = read_new_password(*password_stdin)?;
            // The hash is computed before the database is opened so that a SQLite writer
            // lock is never held across the (deliberately slow) argon2 computation.
            let password_hash = passwords::hash_password(&password)?;
            drop(password);
            let role = ApiRole::from(*role);
            let storage = open_storage(&cli).await?;
            let id = uuid::Uuid::new_v4().to_string();
            let created = storage
                .create_user(&NewUser {
                    id: id.clone(),
                    username: username.clone(),
                    display_name: display_name.clone(),
                    role,
                    password_hash,
                    created_at: now,
                })
                .await?;
            if created == UserCreation::UsernameTaken {
                storage.close().await;
                bail!("a user named {username:?} already exists (names are compared ignoring case)");
            }
            audit(
                storage.as_ref(),
                now,
                "user.create",
                &id,
                serde_json::json!({"username": username, "role": role.as_str()}),
            )
            .await?;
            storage.close().await;
            eprintln!("user {username} ({}) created, id {id}", role.as_str());
        }
        Command::User {
            command: UserCommand::List,
        } => {
            let storage = open_storage(&cli).await?;
            let users = storage.list_users().await;
            storage.close().await;
            print_users(&users?);
        }
        Command::Ca {
            command: CaCommand::ExportRoot,
        } => {
            let ca = open_ca(&cli.config.data_dir, now)?;
            eprintln!("root fingerprint (SHA-256): {}", ca.root_fingerprint());
            print!("{}", ca.root_pem());
        }
        Command::Ca {
            command: CaCommand::ImportIntermediate { root, cert, key },
        } => {
            let read = |path: &Path| {
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
            };
            let ca = CertificateAuthority::import_intermediate(
                &cli.config.data_dir,
                &read(root)?,
                &read(cert)?,
                &read(key)?,
            )?;
            eprintln!("imported; root fingerprint (SHA-256): {}", ca.root_fingerprint());
        }
        Command::Migrate => {
            let storage = open_storage(&cli).await?;
            storage.migrate().await?;
            storage.close().await;
            eprintln!("database is up to date");
        }
    }
    Ok(())
}

fn open_ca(data_dir: &Path, now: OffsetDateTime) -> Result<CertificateAuthority> {
    let (ca, created) = CertificateAuthority::open_or_create(data_dir, now)
        .with_context(|| format!("opening the CA in {}", data_dir.display()))?;
    if created {
        eprintln!(
            "created a new CA in {}",
            data_dir.join(vt_server::ca::CA_DIR).display()
        );
    }
    Ok(ca)
}

async fn open_storage(cli: &Cli) -> Result<std::sync::Arc<dyn Storage>> {
    if cli.config.database_url.is_none() {
        std::fs::create_dir_all(&cli.config.data_dir)
            .with_context(|| format!("creating {}", cli.config.data_dir.display()))?;
    }
    // The URL may carry a password: never echo it.
    storage::open(&cli.config.database_url())
        .await
        .context("opening the database")
}

/// The new user's password: one line of stdin with `--password-stdin`, otherwise typed
/// twice on the terminal without echo. Refuses to read a password from a non-terminal
/// stdin without the flag, so a forgotten flag in a script fails instead of hanging.
fn read_new_password(from_stdin: bool) -> Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        // Only the line ending goes: leading and trailing spaces are part of the password.
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        line
    } else {
        if !std::io::stdin().is_terminal() {
            bail!("standard input is not a terminal: pass --password-stdin to read the password from it");
        }
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        // Refuse a short password before asking for it a second time.
        passwords::check_password_policy(&first)?;
        let again = rpassword::prompt_password("Repeat the password: ").context("reading the password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    };
    passwords::check_password_policy(&password)?;
    Ok(password)
}

fn print_users(users: &[vt_server::storage::User]) {
    let width = users.iter().map(|u| u.username.len()).max().unwrap_or(0).max(8);
    println!(
        "{:<width$}  {:<7}  {:<8}  {:<24}  DISPLAY NAME",
        "USERNAME", "ROLE", "STATE", "CREATED"
    );
    for user in users {
        println!(
            "{:<width$}  {:<7}  {:<8}  {:<24}  {}",
            user.username,
            user.role.as_str(),
            if user.disabled { "disabled" } else { "enabled" },
            vt_wire::format_timestamp(user.created_at),
            user.display_name
        );
    }
}

async fn serve(config: &ServerConfig) -> Result<()> {
    vt_server::logging::init(config.log_format);
    let server = vt_server::server::start(config).await?;
    print_welcome(&server, config);
    shutdown_signal().await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    server.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// What a new user needs next, on stdout; later starts print only where the server listens.
fn print_welcome(server: &vt_server::server::RunningServer, config: &ServerConfig) {
    let first = &server.first_start;
    let data_dir = config.data_dir.display();
    if let Some(addr) = server.dashboard_addr {
        eprintln!("dashboard listening on {addr} ({})", server.dashboard_url);
    }
    if let Some(addr) = server.agent_addr {
        eprintln!("agent API listening on {addr} ({})", server.agent_url);
    }
    if !first.is_first_start() {
        return;
    }
    println!();
    println!("VT-Audit server initialised in {data_dir}:");
    if first.ca_created {
        println!(
            "  - new certificate authority (root fingerprint {})",
            server.root_fingerprint
        );
    }
    for imported in &first.baselines {
        println!(
            "  - policy {} v{} imported and active for {}",
            imported.version.policy_id, imported.version.version, imported.version.os
        );
    }
    println!();
    println!("Next steps:");
    println!("  1. Open the dashboard: {}", server.dashboard_url);
    println!("     (its certificate is issued by the VT-Audit root: `vt-server --data-dir {data_dir} ca export-root`)");
    println!("  2. Create an admin API key:");
    println!("       vt-server --data-dir {data_dir} apikey create --role admin");
    println!("  3. Create an enrollment token and enroll an agent with it:");
    println!("       vt-server --data-dir {data_dir} token create --ttl 24h --uses 10");
    println!(
        "       vt-agent enroll --server {} --token <TOKEN>",
        server.agent_url
    );
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn audit(
    storage: &dyn Storage,
    at: OffsetDateTime,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<()> {
    storage
        .append_audit(&NewAuditEntry {
            at,
            actor: "cli".into(),
            action: action.into(),
            target: target.into(),
            detail,
        })
        .await?;
    Ok(())
}
