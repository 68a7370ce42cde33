//! The database connection: SQLite (embedded default) or MySQL/MariaDB, plus migrations.
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

use crate::config::{Config, DatabaseKind};

/// The database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot connect to the database: {0}")]
    Connect(DbErr),
    #[error("migrations failed: {0}")]
    Migrate(DbErr),
}

/// Opens the configured database.
///
/// SQLite runs in WAL mode with a busy timeout and foreign keys on, through a single pooled connection: SQLite has
/// one writer anyway, and one connection means a transaction that reads before it writes can never fail with
/// `SQLITE_BUSY` against a concurrent writer of this process; against another process's writer, write transactions
/// begin IMMEDIATE (`entities::begin_write`). MySQL gets a real pool.
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbSetupError> {
    let mut url = config.database_url.clone();
    let mut opts;
    match config.database_kind {
        DatabaseKind::Sqlite => {
            let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
            let path = path.split('?').next().unwrap_or(path).to_owned();
            if path != ":memory:" {
                if let Some(dir) = std::path::Path::new(&path).parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|source| DbSetupError::DataDir { path: dir.display().to_string(), source })?;
                }
            }
            if !url.contains('?') {
                url.push_str("?mode=rwc");
            }
            opts = ConnectOptions::new(url);
            opts.max_connections(1).min_connections(1).map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            });
        }
        DatabaseKind::MySql => {
            if let Some(rest) = url.strip_prefix("mariadb://") {
                url = format!("mysql://{rest}");
            }
            opts = ConnectOptions::new(url);
            opts.max_connections(config.database_max_connections)
                .min_connections(2.min(config.database_max_connections));
        }
    }
    opts.acquire_timeout(Duration::from_secs(10)).sqlx_logging(false);
    Database::connect(opts).await.map_err(DbSetupError::Connect)
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbSetupError> {
    entities::Migrator::up(db, None).await.map_err(DbSetupError::Migrate)
}

/// Starts a transaction for claiming rows of a work queue (`SELECT … FOR UPDATE SKIP LOCKED`, then UPDATE).
///
/// On MySQL it runs at READ COMMITTED: under the default REPEATABLE READ, InnoDB keeps the locks of every row a
/// locking read *examined*, not only those it returned, so concurrent claimers and acks deadlock on rows that none
/// of them wanted. SQLite ignores the level (it has one writer).
pub async fn begin_claim(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    use sea_orm::{DbBackend, IsolationLevel, TransactionTrait};
    match db.get_database_backend() {
        DbBackend::MySql => db.begin_with_config(Some(IsolationLevel::ReadCommitted), None).await,
        _ => entities::begin_write(db).await,
    }
}

/// Whether `e` is a lock conflict the database resolved by aborting this statement or transaction (MySQL deadlock,
/// SQLSTATE 40001, or a lock wait timeout), so running the same work again is the right response.
pub fn is_lock_conflict(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    let (DbErr::Exec(RuntimeErr::SqlxError(err)) | DbErr::Query(RuntimeErr::SqlxError(err))) = e else {
        return false;
    };
    err.as_database_error().is_some_and(|d| {
        d.code().is_some_and(|c| c == "40001") || d.message().starts_with("Lock wait timeout exceeded")
    })
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

    use super::*;

    /// Two connections to one SQLite file, as two processes have; the second never waits for a lock.
    async fn two_connections() -> (DatabaseConnection, DatabaseConnection) {
        let dir = std::env::temp_dir().join(format!("taskforge-db-test-{}", uuid::Uuid::now_v7().simple()));
        let url = format!("sqlite://{}", dir.join("taskforge.db").display());
        let config = Config::from_pairs([("database_url", url), ("data_dir", dir.display().to_string())]).unwrap();
        let (one, two) = (connect(&config).await.unwrap(), connect(&config).await.unwrap());
        one.execute_unprepared("CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0)")
            .await
            .unwrap();
        two.execute_unprepared("PRAGMA busy_timeout = 0").await.unwrap();
        (one, two)
    }

    async fn read(tx: &impl ConnectionTrait) -> i64 {
        let row = tx.query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT n FROM counter")).await.unwrap();
        row.unwrap().try_get("", "n").unwrap()
    }

    const BUMP: &str = "UPDATE counter SET n = n + 1";

    #[tokio::test]
    async fn a_write_transaction_holds_the_sqlite_write_lock_from_its_start() {
        let (one, two) = two_connections().await;
        let tx = entities::begin_write(&one).await.unwrap();
        assert_eq!(read(&tx).await, 0);
        // No other process can write between this transaction's read and its write...
        assert!(two.execute_unprepared(BUMP).await.is_err(), "another connection wrote inside the transaction");
        tx.execute_unprepared(BUMP).await.unwrap();
        tx.commit().await.unwrap();
        // ...and once it commits, they can.
        two.execute_unprepared(BUMP).await.unwrap();
        assert_eq!(read(&one).await, 2);
    }

    #[tokio::test]
    async fn a_deferred_transaction_that_read_first_is_refused_its_write_after_another_process_wrote() {
        // Why `begin_write` exists: this is what a plain BEGIN does when another process writes in between.
        let (one, two) = two_connections().await;
        let tx = one.begin().await.unwrap();
        assert_eq!(read(&tx).await, 0);
        two.execute_unprepared(BUMP).await.unwrap();
        assert!(tx.execute_unprepared(BUMP).await.is_err(), "SQLite let a stale snapshot write");
    }
}
