//! Live updates for one open stream (`GET /orgs/{org}/stream`): what the caller may see of the org's events, live
//! from the bus, resumable from the event store.
//!
//! A stream subscribes to the bus *before* it reads the store, and every event reaches the bus only after it is in
//! the store (`workers::publish_event`), so an event is either in what the store returns or arrives afterwards on
//! the subscription: catching up never leaves a hole, and what both deliver is dropped by id. A stream catches up
//! when the client resumes (`Last-Event-ID`), when its subscription lagged, and when the bus says it may have missed
//! messages (a Redis reconnect). Positions are `<µs since the epoch>-<event id>`, the store's own order, so the SSE
//! `id` of each event is what the browser sends back on reconnect.
//!
//! Visibility is decided per event with the rule of the activity feeds, from the caller's scope and visible
//! projects, recomputed when a project, member or org event passes and at least every [`VISIBILITY_REFRESH`]; a
//! caller who is no longer a member sees the stream end.
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use entities::{Role, Scope};
use platform::bus::{Bus, BusMessage, LiveEvent};
use platform::events::{ActivityEvent, EventStore, Feed, FeedQuery, MAX_PAGE};
use sea_orm::DatabaseConnection;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use super::access;
use super::activity::{sees, store_error};
use super::project_access::{visible_project, visible_project_ids};
use crate::analytics_cache::AnalyticsCache;
use crate::auth::Actor;
use crate::error::AppError;
use crate::read_cache::ReadCache;
use crate::recent_events::RecentEvents;

/// The most events one catch-up replays; past that the client is told to reload ([`StreamItem::Reset`]).
pub const CATCH_UP_LIMIT: usize = 1000;
/// How often a stream re-reads what the caller may see, even when no project or member event passes.
pub const VISIBILITY_REFRESH: Duration = Duration::from_secs(30);
/// How far a catch-up inside a running stream looks back for events published out of order.
const REORDER_WINDOW: Duration = Duration::from_secs(10);
/// Event ids a stream remembers to drop duplicates (catch-up overlapping the bus, a republished event).
const SEEN_CAPACITY: usize = 2048;
/// Items buffered towards a slow client before the stream waits for it.
const CLIENT_BUFFER: usize = 256;

/// A point in the org's event order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    micros: i64,
    id: Uuid,
}

impl Position {
    /// Before every event.
    pub const START: Position = Position { micros: i64::MIN, id: Uuid::nil() };

    pub fn of(event: &ActivityEvent) -> Position {
        Position::at(event.occurred_at, event.id)
    }

    /// The position of the event `id` that occurred at `at`.
    pub fn at(at: chrono::DateTime<chrono::Utc>, id: Uuid) -> Position {
        Position { micros: at.timestamp_micros(), id }
    }

    /// Parses a `Last-Event-ID` value.
    pub fn parse(s: &str) -> Option<Position> {
        let (micros, id) = s.split_once('-')?;
        Some(Position { micros: micros.parse().ok()?, id: id.parse().ok()? })
    }

    /// The position `by` earlier, at the nil id (before every event of that microsecond).
    fn earlier_by(self, by: Duration) -> Position {
        if by.is_zero() || self == Position::START {
            return self;
        }
        let micros = self.micros.saturating_sub(i64::try_from(by.as_micros()).unwrap_or(i64::MAX));
        Position { micros, id: Uuid::nil() }
    }

    fn since(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        (*self != Position::START).then(|| chrono::DateTime::from_timestamp_micros(self.micros)).flatten()
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.micros, self.id)
    }
}

/// What a stream sends.
#[derive(Debug, Clone)]
pub enum StreamItem {
    Event(Arc<LiveEvent>),
    /// More was missed than a catch-up replays: reload, then follow the stream again.
    Reset,
}

/// What the stream needs from the process.
#[derive(Clone)]
pub struct StreamDeps {
    pub db: DatabaseConnection,
    /// Where the membership behind the stream's scope is read (and re-read while it runs).
    pub cache: ReadCache,
    pub events: Arc<dyn EventStore>,
    pub bus: Arc<dyn Bus>,
    /// Invalidated before a live event goes out, so a client refetching on it gets fresh analytics.
    pub analytics: AnalyticsCache,
}

/// Which stream, from the request.
#[derive(Debug, Clone, Default)]
pub struct StreamRequest {
    pub project_id: Option<Uuid>,
    /// The `Last-Event-ID` header (or query parameter) of a reconnecting client.
    pub last_event_id: Option<String>,
}

/// Checks access and starts the stream; the items arrive on the returned channel until the client goes away.
pub async fn open(
    deps: StreamDeps,
    actor: Actor,
    org_id: Uuid,
    request: StreamRequest,
) -> Result<mpsc::Receiver<StreamItem>, AppError> {
    let scope = access::scope(&deps.db, &deps.cache, &actor, org_id).await?;
    if let Some(project_id) = request.project_id {
        visible_project(&deps.db, &scope, project_id).await?;
    }
    let resume = match &request.last_event_id {
        Some(raw) => Some(
            Position::parse(raw.trim())
                .ok_or_else(|| AppError::invalid("Last-Event-ID", "must be the id of an event this stream sent"))?,
        ),
        None => None,
    };
    let subscription = deps.bus.subscribe();
    let visible = Visibility::read(&deps.db, &scope, request.project_id).await?;
    let feed = match request.project_id {
        Some(p) => Feed::Project(p),
        None => Feed::Org,
    };
    // Without Last-Event-ID the stream starts now: at the newest stored event, from which a later catch-up replays.
    let position = match resume {
        Some(p) => p,
        None => newest(deps.events.as_ref(), org_id, feed).await?,
    };
    let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
    let mut stream = Stream {
        deps,
        actor,
        org_id,
        feed,
        visible,
        position,
        seen: RecentEvents::new(SEEN_CAPACITY),
        checked_projects: HashSet::new(),
        tx,
    };
    tokio::spawn(async move {
        if resume.is_some() && !stream.catch_up(Duration::ZERO).await {
            return;
        }
        stream.run(subscription).await;
    });
    Ok(rx)
}

async fn newest(store: &dyn EventStore, org_id: Uuid, feed: Feed) -> Result<Position, AppError> {
    let page = store.feed(org_id, &FeedQuery::new(feed, 1)).await.map_err(store_error)?;
    Ok(page.events.first().map(Position::of).unwrap_or(Position::START))
}

/// What the caller may see right now.
struct Visibility {
    scope: Scope,
    project_id: Option<Uuid>,
    /// `None`: every project.
    projects: Option<Vec<Uuid>>,
}

impl Visibility {
    async fn read(db: &DatabaseConnection, scope: &Scope, project_id: Option<Uuid>) -> Result<Visibility, AppError> {
        let projects = visible_project_ids(db, scope).await?;
        Ok(Visibility { scope: scope.clone(), project_id, projects })
    }

    fn sees(&self, event: &ActivityEvent) -> bool {
        if self.project_id.is_some() && event.project_id != self.project_id {
            return false;
        }
        sees(event, self.projects.as_deref(), self.scope.role() == Role::Guest)
    }
}

struct Stream {
    deps: StreamDeps,
    actor: Actor,
    org_id: Uuid,
    feed: Feed,
    visible: Visibility,
    position: Position,
    /// Events sent lately: a catch-up and the bus may both bring one.
    seen: RecentEvents<()>,
    /// Projects the stream re-read its access for on meeting their events (see [`Stream::sees_after_refresh`]).
    checked_projects: HashSet<Uuid>,
    tx: mpsc::Sender<StreamItem>,
}

impl Stream {
    async fn run(&mut self, mut subscription: broadcast::Receiver<BusMessage>) {
        let mut refresh = tokio::time::interval(VISIBILITY_REFRESH);
        refresh.tick().await;
        loop {
            let keep_going = tokio::select! {
                _ = self.tx.closed() => false,
                _ = refresh.tick() => self.refresh().await,
                message = subscription.recv() => match message {
                    Ok(BusMessage::Event(live)) => self.live(live).await,
                    Ok(BusMessage::Gap) => self.catch_up(REORDER_WINDOW).await,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::info!(org_id = %self.org_id, missed, "a live stream lagged; catching up from the store");
                        self.catch_up(REORDER_WINDOW).await
                    }
                    Err(broadcast::error::RecvError::Closed) => false,
                },
            };
            if !keep_going {
                break;
            }
        }
    }

    /// Sends a live event if it is for this stream. `false` when the stream should end.
    async fn live(&mut self, live: Arc<LiveEvent>) -> bool {
        let event = &live.event;
        if event.org_id != self.org_id {
            return true;
        }
        self.deps.analytics.invalidate_for(event).await;
        let changes_access = ["project.", "member.", "org."].iter().any(|p| event.event_type.starts_with(p));
        if changes_access && !self.refresh().await {
            return false;
        }
        self.send(live).await
    }

    /// Re-reads the caller's access. `false` (end the stream) when they are no longer a member or the project is
    /// no longer theirs to see.
    async fn refresh(&mut self) -> bool {
        let scope = match access::scope(&self.deps.db, &self.deps.cache, &self.actor, self.org_id).await {
            Ok(scope) => scope,
            Err(AppError::NotFound(_)) => return false,
            Err(e) => {
                // A database hiccup keeps the access already read; the next refresh tries again.
                tracing::warn!(error = %e, org_id = %self.org_id, "re-reading a stream's access failed");
                return true;
            }
        };
        if let Some(project_id) = self.visible.project_id {
            match visible_project(&self.deps.db, &scope, project_id).await {
                Ok(_) => {}
                Err(AppError::NotFound(_)) => return false,
                Err(e) => {
                    tracing::warn!(error = %e, "re-reading a stream's project access failed");
                    return true;
                }
            }
        }
        match Visibility::read(&self.deps.db, &scope, self.visible.project_id).await {
            Ok(v) => self.visible = v,
            Err(e) => tracing::warn!(error = %e, "re-reading a stream's visible projects failed"),
        }
        true
    }

    async fn send(&mut self, live: Arc<LiveEvent>) -> bool {
        if !self.visible.sees(&live.event) && !self.sees_after_refresh(&live.event).await {
            return true;
        }
        if !self.seen.note(live.event.id, || ()).1 {
            return true;
        }
        self.position = self.position.max(Position::of(&live.event));
        self.tx.send(StreamItem::Event(live)).await.is_ok()
    }

    /// Events are published concurrently, so a new project's first task may arrive before the project's own event
    /// has refreshed the stream's access: re-read access once for a project the stream has not yet checked.
    async fn sees_after_refresh(&mut self, event: &ActivityEvent) -> bool {
        let Some(project_id) = event.project_id else {
            return false;
        };
        let known = self.visible.projects.as_ref().is_none_or(|p| p.contains(&project_id));
        if known || !self.checked_projects.insert(project_id) {
            return false;
        }
        self.refresh().await && self.visible.sees(event)
    }

    /// Replays what the store holds after the stream's position, oldest first, less `lookback`: events are
    /// published concurrently, so one may reach the bus after a later one did, and a catch-up inside a running
    /// stream looks back [`REORDER_WINDOW`] (dropping what it already sent by id). `false` when the client is gone.
    async fn catch_up(&mut self, lookback: Duration) -> bool {
        let from = self.position.earlier_by(lookback);
        let mut missed: Vec<ActivityEvent> = Vec::new();
        let mut query = FeedQuery::new(self.feed, MAX_PAGE);
        query.since = from.since();
        let overflow = loop {
            let page = match self.deps.events.feed(self.org_id, &query).await {
                Ok(page) => page,
                Err(e) => {
                    // The bus still delivers; the next gap or reconnect catches up again.
                    tracing::warn!(error = %e, org_id = %self.org_id, "a live stream could not catch up");
                    return true;
                }
            };
            let done = page.next_cursor.is_none();
            missed.extend(page.events.into_iter().filter(|e| Position::of(e) > from));
            if missed.len() > CATCH_UP_LIMIT {
                break true;
            }
            match page.next_cursor {
                Some(cursor) if !done => query.cursor = Some(cursor),
                _ => break false,
            }
        };
        if overflow {
            // Too much to replay: the client reloads and follows from the newest event.
            if let Some(newest) = missed.first() {
                self.position = Position::of(newest);
            }
            return self.tx.send(StreamItem::Reset).await.is_ok();
        }
        for event in missed.into_iter().rev() {
            // Without its snapshot the event still goes out: the client refetches the task, as for a reset.
            let task = match entities::board_card::event_task(&self.deps.db, self.org_id, event.task_id).await {
                Ok(task) => task,
                Err(e) => {
                    tracing::warn!(error = %e, event_id = %event.id, "reading a replayed event's task failed");
                    None
                }
            };
            if !self.send(Arc::new(LiveEvent { event, task })).await {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_round_trips_through_its_text_and_orders_by_time_then_id() {
        let early = Position { micros: 1_764_000_000_000_001, id: Uuid::now_v7() };
        let late = Position { micros: 1_764_000_000_000_002, id: Uuid::nil() };
        assert_eq!(Position::parse(&early.to_string()), Some(early));
        assert!(early < late);
        assert!(Position::START < early);
        assert_eq!(Position::parse("nonsense"), None);
        assert_eq!(Position::parse("12-not-a-uuid"), None);
    }
}
