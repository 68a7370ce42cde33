//! Persistence for Taskforge: sea-orm entities (one module per table), the migrations, the tenant [`Scope`] through
//! which every tenant query goes, and the domain rules both the API and the workers need (roles, permissions).
pub mod board_card;
pub mod link_copies;
pub mod migrations;
pub mod notification_kinds;
pub mod roles;
pub mod scope;
pub mod tables;
pub mod task_rows;
pub mod write_tx;

pub use migrations::Migrator;
pub use roles::{Permission, Role};
pub use scope::{Scope, TenantEntity};
pub use write_tx::begin_write;

/// A fresh time-ordered id (UUIDv7): primary keys stay roughly in insert order, which keeps B-trees compact and lets
/// "newest first" lists sort on the key.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// The current time at the precision every backend stores (microseconds: MySQL `DATETIME(6)`), so a value written
/// and read back compares equal, which keyset cursors and change detection rely on.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}

/// A user-chosen date (due, start) in the form the database layer binds safely. sqlx binds `DateTime<Utc>` to MySQL
/// as a `TIMESTAMP` parameter, which cannot hold dates after 2038-01-19 (MariaDB turns them into NULL), whereas a
/// fixed-offset value is bound as a plain UTC string into the `DATETIME(6)` column. Columns holding dates a user
/// may put decades ahead therefore use `DateTimeWithTimeZone`, always at offset zero.
pub fn far_date(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::FixedOffset> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6).fixed_offset()
}

/// The UTC instant of a stored [`far_date`].
pub fn utc(t: chrono::DateTime<chrono::FixedOffset>) -> chrono::DateTime<chrono::Utc> {
    t.with_timezone(&chrono::Utc)
}
