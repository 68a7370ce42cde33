//! The outbox relay: every row becomes exactly one `PublishEvent` job, even with relays running side by side.
#![allow(clippy::disallowed_methods)] // the test inspects the outbox and the queue across orgs

use entities::tables::{jobs, outbox};
use platform::jobs::{Envelope, Job};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::collections::HashMap;
use workers::OutboxRelay;

use crate::runtime::insert_outbox_row;

both_backends! {
    async fn two_relays_publish_each_outbox_row_exactly_once(t: TestDb) {
        let org_id = entities::new_id();
        let mut rows = Vec::new();
        for _ in 0..120 {
            rows.push(insert_outbox_row(&t, org_id).await);
        }
        let mut relays = Vec::new();
        for _ in 0..2 {
            let mut relay = OutboxRelay::new(t.db.clone(), t.port());
            relay.batch_size = 7;
            relays.push(tokio::spawn(async move {
                let mut published = 0;
                loop {
                    match relay.relay_once().await.expect("relaying") {
                        0 => break published,
                        n => published += n,
                    }
                }
            }));
        }
        let mut total = 0;
        for r in relays {
            total += r.await.unwrap();
        }
        assert_eq!(total, 120);
        let unpublished = outbox::Entity::find().filter(outbox::Column::PublishedAt.is_null()).count(&t.db).await.unwrap();
        assert_eq!(unpublished, 0, "every row is marked published");

        let queued = jobs::Entity::find().all(&t.db).await.unwrap();
        let mut per_row: HashMap<uuid::Uuid, usize> = HashMap::new();
        for job in &queued {
            let env = Envelope::decode(&job.body).unwrap();
            assert_eq!(env.org_id, Some(org_id));
            let Job::PublishEvent { outbox_id } = env.job else { panic!("unexpected job {:?}", env.job) };
            *per_row.entry(outbox_id).or_default() += 1;
        }
        assert_eq!(per_row.len(), 120);
        assert!(per_row.values().all(|n| *n == 1), "no row was enqueued twice");
        assert!(rows.iter().all(|id| per_row.contains_key(id)));
    }

    async fn a_row_whose_claim_expired_is_published_again(t: TestDb) {
        let org_id = entities::new_id();
        let id = insert_outbox_row(&t, org_id).await;
        let claim = |until: chrono::DateTime<chrono::Utc>| {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::ClaimedUntil, sea_orm::sea_query::Expr::value(until))
                .filter(outbox::Column::Id.eq(id))
                .exec(&t.db)
        };
        let relay = OutboxRelay::new(t.db.clone(), t.port());
        // Another relay holds the row.
        claim(entities::now() + chrono::Duration::hours(1)).await.unwrap();
        assert_eq!(relay.relay_once().await.unwrap(), 0);
        // That relay died before enqueueing: once its claim expires, this one takes over.
        claim(entities::now() - chrono::Duration::seconds(1)).await.unwrap();
        assert_eq!(relay.relay_once().await.unwrap(), 1);
        assert_eq!(relay.relay_once().await.unwrap(), 0);
        assert_eq!(jobs::Entity::find().count(&t.db).await.unwrap(), 1);
    }

    async fn an_announced_row_is_published_without_waiting_out_the_poll(t: TestDb) {
        let announced = platform::wake::Wake::new();
        let enqueued = platform::wake::Wake::new();
        let mut relay = OutboxRelay::new(t.db.clone(), t.port()).woken_by(announced.clone()).wakes(enqueued.clone());
        relay.poll_interval = std::time::Duration::from_secs(3600);
        let mut pools = enqueued.waiter();
        let org_id = entities::new_id();
        let published = |id: uuid::Uuid| {
            let db = t.db.clone();
            async move { outbox::Entity::find_by_id(id).one(&db).await.unwrap().unwrap().published_at.is_some() }
        };
        let first = insert_outbox_row(&t, org_id).await;
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(relay.run(shutdown));
        let wait = std::time::Duration::from_secs(20);
        crate::common::eventually(wait, "the first row to be published", || published(first)).await;
        // Now the relay sleeps for an hour, unless a write announces new rows.
        let second = insert_outbox_row(&t, org_id).await;
        announced.wake();
        crate::common::eventually(wait, "the announced row to be published", || published(second)).await;
        // And it woke this process's pools, which would otherwise wait out their own poll.
        let woke = tokio::time::timeout(std::time::Duration::from_secs(20), pools.wait(std::time::Duration::from_secs(3600))).await;
        assert!(woke.is_ok(), "the pools were woken");
        stop.send(true).unwrap();
        running.await.unwrap();
    }
}
