//! Starting the transactions that write.
//!
//! On SQLite a plain `BEGIN` is deferred: the transaction takes the write lock at its first write. When it has read
//! before that and another connection wrote in between (the CLI, or a second process on the same file), SQLite
//! refuses the upgrade at once with `SQLITE_BUSY_SNAPSHOT`, which no busy timeout waits out. `BEGIN IMMEDIATE`
//! takes the write lock up front, so a writer waits its turn (up to the busy timeout) instead of failing. MySQL
//! ignores the mode; a nested call makes a savepoint as usual.
use sea_orm::{DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait};

/// Begins a transaction that will write (see the module docs).
pub async fn begin_write<C: TransactionTrait + ?Sized>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}
