//! `vt-server user add` / `user list`, run as the real binary against the data directory
//! (or PostgreSQL schema) of a server that is running at the same time.

mod agent_common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use agent_common::TestServer;
use vt_server::passwords::verify_password;
use vt_server::storage::ApiRole;

/// Runs `vt-server <database args> <args>` with `stdin` piped in (so stdin is never a TTY).
async fn vt_server(database: Vec<String>, args: &[&str], stdin: &str) -> Output {
    let args: Vec<String> = database
        .into_iter()
        .chain(args.iter().map(|s| s.to_string()))
        .collect();
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vt-server"))
            .args(&args)
            .env_remove("VT_DATABASE_URL")
            .env_remove("VT_DATA_DIR")
            .env_remove("VT_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vt-server");
        let mut pipe = child.stdin.take().expect("stdin");
        // The CLI may exit before reading (e.g. a bad username): ignore a broken pipe.
        let _ = pipe.write_all(stdin.as_bytes());
        drop(pipe);
        child.wait_with_output().expect("vt-server output")
    })
    .await
    .expect("join")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn user_commands_work_next_to_a_running_server(t: &TestServer, database: Vec<String>) {
    let add = |name: &str, role: &str| -> Vec<String> {
        ["user", "add", "--username", name, "--role", role]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let run = |extra: Vec<String>, stdin: &str| {
        let args: Vec<String> = extra;
        let database = database.clone();
        let stdin = stdin.to_string();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            vt_server(database, &refs, &stdin).await
        }
    };
    let with_stdin = |mut args: Vec<String>| {
        args.push("--password-stdin".into());
        args
    };

    // Too short (12 characters are required), and never echoed.
    let short = run(with_stdin(add("alice", "admin")), "elevenchars\n").await;
    assert!(!short.status.success());
    assert!(
        text(&short).contains("at least 12 characters"),
        "{}",
        text(&short)
    );
    assert!(!text(&short).contains("elevenchars"));

    // Without --password-stdin a non-terminal stdin is refused, not read.
    let piped = run(add("alice", "admin"), "a long enough password\n").await;
    assert!(!piped.status.success());
    assert!(text(&piped).contains("--password-stdin"), "{}", text(&piped));
    assert!(!text(&piped).contains("a long enough password"));

    let bad_name = run(with_stdin(add("al ice", "admin")), "a long enough password\n").await;
    assert!(!bad_name.status.success());
    assert!(
        text(&bad_name).contains("invalid username"),
        "{}",
        text(&bad_name)
    );

    // Created while the server runs; only the line ending is stripped from the password.
    let password = " correct horse battery staple ";
    let mut args = with_stdin(add("Alice", "admin"));
    args.extend(["--display-name".into(), "Alice Admin".into()]);
    let created = run(args, &format!("{password}\r\n")).await;
    assert!(created.status.success(), "{}", text(&created));
    assert!(!text(&created).contains(password.trim()));
    assert!(created.stdout.is_empty(), "nothing on stdout");

    let storage = t.storage();
    let user = storage
        .find_user_by_username("alice")
        .await
        .unwrap()
        .expect("the running server sees the new user");
    assert_eq!(
        (
            user.username.as_str(),
            user.display_name.as_str(),
            user.role,
            user.disabled
        ),
        ("Alice", "Alice Admin", ApiRole::Admin, false)
    );
    assert!(user.password_hash.0.starts_with("$argon2id$"));
    assert!(verify_password(password, &user.password_hash));
    assert!(!verify_password(password.trim(), &user.password_hash));

    let audit = storage.list_audit(Default::default()).await.unwrap();
    let entry = audit
        .items
        .iter()
        .find(|e| e.action == "user.create")
        .expect("audited");
    assert_eq!(
        (entry.actor.as_str(), entry.target.as_str()),
        ("cli", user.id.as_str())
    );
    assert_eq!(
        entry.detail,
        serde_json::json!({"username": "Alice", "role": "admin"})
    );
    assert_eq!(
        audit.items.iter().filter(|e| e.action == "user.create").count(),
        1,
        "refused attempts are not audited as creations"
    );

    // Names are unique ignoring case.
    let duplicate = run(with_stdin(add("ALICE", "viewer")), "another long password\n").await;
    assert!(!duplicate.status.success());
    assert!(
        text(&duplicate).contains("already exists"),
        "{}",
        text(&duplicate)
    );

    let viewer = run(with_stdin(add("bob", "viewer")), "bob's long password\n").await;
    assert!(viewer.status.success(), "{}", text(&viewer));

    let list = run(vec!["user".into(), "list".into()], "").await;
    assert!(list.status.success(), "{}", text(&list));
    let stdout = String::from_utf8_lossy(&list.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("USERNAME"));
    assert!(lines[1].starts_with("Alice") && lines[1].contains("admin") && lines[1].contains("Alice Admin"));
    assert!(lines[2].starts_with("bob") && lines[2].contains("viewer") && lines[2].contains("enabled"));
    assert!(!stdout.contains("argon2"), "hashes are never listed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_add_and_list_on_sqlite() {
    let t = TestServer::start(&[]).await;
    let database = vec!["--data-dir".to_string(), t.dir.path().display().to_string()];
    user_commands_work_next_to_a_running_server(&t, database).await;
    t.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_add_and_list_on_postgres() {
    let Ok(url) = std::env::var("VT_TEST_DATABASE_URL") else {
        eprintln!("skipped: VT_TEST_DATABASE_URL not set");
        return;
    };
    let schema = format!("vt_cli_test_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let schema_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let t = TestServer::start(&["--database-url", &schema_url]).await;
    let database = vec![
        "--data-dir".to_string(),
        t.dir.path().display().to_string(),
        "--database-url".to_string(),
        schema_url.clone(),
    ];
    user_commands_work_next_to_a_running_server(&t, database).await;
    t.server.shutdown().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}
