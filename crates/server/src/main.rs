//! `vt-server`: for now the administrative subcommands. They work on the same data
//! directory and database as a running server (SQLite WAL allows a second process).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use time::OffsetDateTime;
use vt_server::ca::CertificateAuthority;
use vt_server::secrets;
use vt_server::storage::{self, ApiRole, NewApiKey, NewAuditEntry, NewEnrollmentToken, Storage};

#[derive(Parser)]
#[command(name = "vt-server", version, about = "VT-Audit central server")]
struct Cli {
    /// Directory holding the CA, the server certificate and the default SQLite database.
    #[arg(long, env = "VT_DATA_DIR", default_value = "./vt-data", global = true)]
    data_dir: PathBuf,
    /// `sqlite:PATH` or `postgres://...`; default: SQLite in the data directory.
    #[arg(long, env = "VT_DATABASE_URL", global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// The certificate authority.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Apply pending database migrations and exit.
    Migrate,
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
    let cli = Cli::parse();
    let now = OffsetDateTime::now_utc();
    match &cli.command {
        Command::Token {
            command: TokenCommand::Create { ttl, uses, label },
        } => {
            let ca = open_ca(&cli.data_dir, now)?;
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
        Command::Ca {
            command: CaCommand::ExportRoot,
        } => {
            let ca = open_ca(&cli.data_dir, now)?;
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
                &cli.data_dir,
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
    let url = match &cli.database_url {
        Some(url) => url.clone(),
        None => {
            std::fs::create_dir_all(&cli.data_dir)
                .with_context(|| format!("creating {}", cli.data_dir.display()))?;
            format!("sqlite:{}", cli.data_dir.join("vt-audit.db").display())
        }
    };
    // The URL may carry a password: never echo it.
    storage::open(&url).await.context("opening the database")
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

/// `90s`, `30m`, `24h`, `7d`.
fn parse_duration(text: &str) -> Result<time::Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .with_context(|| format!("{text:?}: expected a number and a unit"))?;
    let duration = match unit {
        "s" => time::Duration::seconds(number),
        "m" => time::Duration::minutes(number),
        "h" => time::Duration::hours(number),
        "d" => time::Duration::days(number),
        _ => bail!("{text:?}: unit must be s, m, h or d"),
    };
    if duration <= time::Duration::ZERO || duration > time::Duration::days(365) {
        bail!("{text:?}: must be between 1s and 365d");
    }
    Ok(duration)
}
