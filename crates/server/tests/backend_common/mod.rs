//! A fresh storage backend per test: a SQLite file in a temp dir, or PostgreSQL in a
//! schema of its own (dropped afterwards) when `VT_TEST_DATABASE_URL` is set.

use std::sync::Arc;

use vt_server::storage::{PostgresStorage, SqliteStorage, Storage};

pub struct Backend {
    pub storage: Arc<dyn Storage>,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl Backend {
    pub async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("vt.db").display());
        let storage = SqliteStorage::open(&url).await.expect("open sqlite");
        Backend {
            storage: Arc::new(storage),
            _dir: Some(dir),
            postgres: None,
        }
    }

    pub async fn postgres() -> Option<Backend> {
        let Ok(url) = std::env::var("VT_TEST_DATABASE_URL") else {
            eprintln!("skipped: VT_TEST_DATABASE_URL not set");
            return None;
        };
        let schema = format!("vt_test_{}", uuid::Uuid::new_v4().simple());
        let storage = PostgresStorage::open_in_schema(&url, Some(&schema))
            .await
            .expect("open postgres");
        Some(Backend {
            storage: Arc::new(storage),
            _dir: None,
            postgres: Some((url, schema)),
        })
    }

    pub async fn finish(self) {
        self.storage.close().await;
        if let Some((url, schema)) = self.postgres {
            let pool = sqlx::PgPool::connect(&url).await.expect("connect for cleanup");
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&pool)
                .await
                .expect("drop schema");
            pool.close().await;
        }
    }
}
