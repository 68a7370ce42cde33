//! The 08:00 digests: once a user's local time has passed [`DIGEST_HOUR`] on a new local day, a scheduler run claims
//! that (user, kind, local date) and enqueues the digest job; the digest handlers render and send.
//!
//! Each claim is a compare-and-set on `user_daily_runs`: `UPDATE … SET last_local_date = today WHERE
//! last_local_date = <the value this run read>`, or an INSERT when the user has no row yet (a duplicate key means
//! another run got there first). Of two runs ticking at once exactly one affects the row, so each digest is
//! enqueued once per user and local day. The work per tick stays small: time zones are grouped first (only users
//! in zones past 08:00 are read at all) and a claimed user no longer matches the candidate query for that day.
//!
//! A zone name chrono-tz does not know is read as UTC, with one warning per name and process.
#![allow(clippy::disallowed_methods)] // users, notifications and user_daily_runs are not tenant data

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use entities::tables::{notifications, user_daily_runs, users};
use platform::jobs::{Envelope, Job, Queue};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
    Set, SqlErr,
};
use uuid::Uuid;

use crate::handler::HandlerError;

/// The local hour from which a day's digests go out.
pub const DIGEST_HOUR: u32 = 8;

/// Users read per candidate query.
const BATCH: u64 = 500;

/// A daily job, named in `user_daily_runs.kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DailyKind {
    /// `Job::OverdueDigest`, for every user.
    Overdue,
    /// `Job::NotificationDigest`, for users with notifications waiting for the digest.
    Notifications,
}

impl DailyKind {
    pub const ALL: [DailyKind; 2] = [DailyKind::Overdue, DailyKind::Notifications];

    pub fn as_str(self) -> &'static str {
        match self {
            DailyKind::Overdue => "overdue_digest",
            DailyKind::Notifications => "notification_digest",
        }
    }

    fn job(self, user_id: Uuid, local_date: NaiveDate) -> Job {
        match self {
            DailyKind::Overdue => Job::OverdueDigest { user_id, local_date },
            DailyKind::Notifications => Job::NotificationDigest { user_id, local_date },
        }
    }
}

/// The zone named `name`, or UTC (with one warning per name) when chrono-tz does not know it.
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or_else(|_| {
        static WARNED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
        let mut warned = WARNED.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        if warned.insert(name.to_owned()) {
            tracing::warn!(time_zone = name, "unknown time zone; using UTC for its users' daily digests");
        }
        Tz::UTC
    })
}

/// The local date at `at` in zone `name` if its digest hour has passed there, else `None`.
pub fn digest_date(name: &str, at: DateTime<Utc>) -> Option<NaiveDate> {
    let local = at.with_timezone(&zone(name));
    (local.hour() >= DIGEST_HOUR).then(|| local.date_naive())
}

/// Claims and enqueues every digest due at `at`; returns how many jobs were enqueued.
pub async fn enqueue_due(db: &DatabaseConnection, queue: &dyn Queue, at: DateTime<Utc>) -> Result<usize, HandlerError> {
    let zones: Vec<String> =
        users::Entity::find().select_only().column(users::Column::TimeZone).distinct().into_tuple().all(db).await?;
    // At any instant the zones past 08:00 span at most three local dates; one candidate query per date.
    let mut by_date: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
    for z in zones {
        if let Some(date) = digest_date(&z, at) {
            by_date.entry(date).or_default().push(z);
        }
    }
    let mut enqueued = 0;
    for (date, zones) in &by_date {
        for kind in DailyKind::ALL {
            loop {
                let candidates = candidates(db, kind, *date, zones).await?;
                enqueued += claim_and_enqueue(db, queue, kind, *date, &candidates).await?;
                if (candidates.len() as u64) < BATCH {
                    break;
                }
            }
        }
    }
    Ok(enqueued)
}

/// Users in `zones` whose `kind` has not run for `date`, with the local date it last ran.
async fn candidates(
    db: &DatabaseConnection,
    kind: DailyKind,
    date: NaiveDate,
    zones: &[String],
) -> Result<Vec<(Uuid, Option<String>)>, DbErr> {
    let runs = Alias::new("r");
    let last = Expr::col((runs.clone(), user_daily_runs::Column::LastLocalDate));
    let query = Query::select()
        .column((users::Entity, users::Column::Id))
        .expr_as(last.clone(), Alias::new("last_local_date"))
        .from(users::Entity)
        .join_as(
            JoinType::LeftJoin,
            user_daily_runs::Entity,
            runs.clone(),
            Expr::col((runs.clone(), user_daily_runs::Column::UserId))
                .equals((users::Entity, users::Column::Id))
                .and(Expr::col((runs.clone(), user_daily_runs::Column::Kind)).eq(kind.as_str())),
        )
        .and_where(Expr::col((users::Entity, users::Column::TimeZone)).is_in(zones.iter().cloned()))
        .and_where(last.clone().is_null().or(last.lt(date.to_string())))
        .limit(BATCH)
        .to_owned();
    let mut out = Vec::new();
    for row in db.query_all(&query).await? {
        out.push((row.try_get("", "id")?, row.try_get("", "last_local_date")?));
    }
    Ok(out)
}

/// Claims `kind` for `date` for each candidate and enqueues the jobs of the claims won; if the enqueue fails the
/// claims are given back, so the next tick tries again.
async fn claim_and_enqueue(
    db: &DatabaseConnection,
    queue: &dyn Queue,
    kind: DailyKind,
    date: NaiveDate,
    candidates: &[(Uuid, Option<String>)],
) -> Result<usize, HandlerError> {
    let mut won = Vec::new();
    for (user_id, previous) in candidates {
        if claim(db, *user_id, kind, date, previous.as_deref()).await? {
            won.push((*user_id, previous.clone()));
        }
    }
    let wanted: Vec<Uuid> = match kind {
        DailyKind::Overdue => won.iter().map(|(u, _)| *u).collect(),
        DailyKind::Notifications => with_digest_notifications(db, won.iter().map(|(u, _)| *u).collect()).await?,
    };
    if wanted.is_empty() {
        return Ok(0);
    }
    let jobs: Vec<Envelope> = wanted.iter().map(|u| Envelope::new(kind.job(*u, date), None)).collect();
    if let Err(e) = queue.enqueue(&jobs, Duration::ZERO).await {
        for (user_id, previous) in &won {
            if let Err(e) = unclaim(db, *user_id, kind, date, previous.as_deref()).await {
                tracing::warn!(user_id = %user_id, kind = kind.as_str(), error = %e, "giving back a digest claim failed");
            }
        }
        return Err(HandlerError::retryable(e));
    }
    Ok(jobs.len())
}

/// Sets the user's `kind` to `date` if it is still at `previous` (inserting the row when there was none); true when
/// this call made the change.
pub async fn claim(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    kind: DailyKind,
    date: NaiveDate,
    previous: Option<&str>,
) -> Result<bool, DbErr> {
    let now = entities::now();
    let Some(previous) = previous else {
        let row = user_daily_runs::ActiveModel {
            user_id: Set(user_id),
            kind: Set(kind.as_str().to_owned()),
            last_local_date: Set(date.to_string()),
            updated_at: Set(now),
        };
        // A plain insert and its duplicate-key error: MySQL's affected-row count of an upsert depends on
        // connection flags, the error does not.
        return match row.insert(db).await {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(false),
            Err(e) => Err(e),
        };
    };
    let result = user_daily_runs::Entity::update_many()
        .col_expr(user_daily_runs::Column::LastLocalDate, Expr::value(date.to_string()))
        .col_expr(user_daily_runs::Column::UpdatedAt, Expr::value(now))
        .filter(user_daily_runs::Column::UserId.eq(user_id))
        .filter(user_daily_runs::Column::Kind.eq(kind.as_str()))
        .filter(user_daily_runs::Column::LastLocalDate.eq(previous))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Undoes a claim of this run (only if nothing moved the row since).
async fn unclaim(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    kind: DailyKind,
    date: NaiveDate,
    previous: Option<&str>,
) -> Result<(), DbErr> {
    let mine = user_daily_runs::Column::UserId
        .eq(user_id)
        .and(user_daily_runs::Column::Kind.eq(kind.as_str()))
        .and(user_daily_runs::Column::LastLocalDate.eq(date.to_string()));
    match previous {
        None => {
            user_daily_runs::Entity::delete_many().filter(mine).exec(db).await?;
        }
        Some(p) => {
            user_daily_runs::Entity::update_many()
                .col_expr(user_daily_runs::Column::LastLocalDate, Expr::value(p))
                .filter(mine)
                .exec(db)
                .await?;
        }
    }
    Ok(())
}

/// Those of `users` who have notifications waiting for the digest.
async fn with_digest_notifications(db: &impl ConnectionTrait, users: Vec<Uuid>) -> Result<Vec<Uuid>, DbErr> {
    if users.is_empty() {
        return Ok(users);
    }
    let mut found: Vec<Uuid> = notifications::Entity::find()
        .select_only()
        .column(notifications::Column::UserId)
        .distinct()
        .filter(notifications::Column::EmailState.eq("digest"))
        .filter(notifications::Column::UserId.is_in(users))
        .into_tuple()
        .all(db)
        .await?;
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_digest_day_starts_at_eight_local_time() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        // 07:30 UTC: 16:30 in Tokyo, 08:30 in Paris (CET), 02:30 in New York.
        let t = at("2026-11-25T07:30:00Z");
        assert_eq!(digest_date("Asia/Tokyo", t), Some(date(2026, 11, 25)));
        assert_eq!(digest_date("Europe/Paris", t), Some(date(2026, 11, 25)));
        assert_eq!(digest_date("America/New_York", t), None);
        assert_eq!(digest_date("UTC", t), None);
        // 23:30 UTC is already the next morning in Tokyo (08:30) and still the evening before in New York.
        let t = at("2026-11-25T23:30:00Z");
        assert_eq!(digest_date("Asia/Tokyo", t), Some(date(2026, 11, 26)));
        assert_eq!(digest_date("America/New_York", t), Some(date(2026, 11, 25)));
    }

    #[test]
    fn an_unknown_zone_is_read_as_utc() {
        assert_eq!(zone("Mars/Olympus_Mons"), Tz::UTC);
        assert_eq!(digest_date("Mars/Olympus_Mons", at("2026-11-25T07:59:59Z")), None);
        assert!(digest_date("Mars/Olympus_Mons", at("2026-11-25T08:00:00Z")).is_some());
    }
}
