//! Queue semantics: claims, leases, visibility, delays, dead letters and the operator commands, on every queue
//! backend; the few behaviours SQS does not share are marked where they are tested.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use platform::jobs::{Envelope, Pool};

use crate::common::Backend;

/// A lease long enough never to expire during a test.
const LONG: Duration = Duration::from_secs(30);

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn stats_of(stats: &[platform::jobs::PoolStats], pool: Pool) -> platform::jobs::PoolStats {
    stats.iter().find(|s| s.pool == pool).cloned().expect("every pool has stats")
}

every_queue! {
    async fn enqueued_jobs_are_claimed_once_and_gone_after_ack(t: TestDb) {
        let sent = t.enqueue_noops(&["a", "b", "c"]).await;
        let claimed = t.claim_n(Pool::Notifications, 3, LONG).await;
        let ids: Vec<_> = claimed.iter().map(|m| m.lease.message_id).collect();
        let sent_ids: Vec<_> = sent.iter().map(|e| e.job_id).collect();
        if t.is_ordered() {
            assert_eq!(ids, sent_ids, "claimed in enqueue order");
        } else {
            assert_eq!(sorted(ids), sorted(sent_ids));
        }
        for m in &claimed {
            let env = sent.iter().find(|e| e.job_id == m.lease.message_id).unwrap();
            assert_eq!(m.receive_count, 1);
            assert_eq!((m.job_type.as_str(), m.org_id), ("noop", None));
            assert_eq!(&Envelope::decode(&m.body).unwrap(), env);
        }
        assert!(t.queue.claim_batch(Pool::Notifications, 10, LONG).await.unwrap().is_empty(), "leased jobs are hidden");
        assert!(t.queue.claim_batch(Pool::Images, 10, LONG).await.unwrap().is_empty(), "pools are separate");
        let s = stats_of(&t.queue.stats().await.unwrap(), Pool::Notifications);
        assert_eq!((s.depth, s.in_flight), (0, 3));
        for m in &claimed {
            assert!(t.queue.ack(&m.lease).await.unwrap());
        }
        let s = stats_of(&t.queue.stats().await.unwrap(), Pool::Notifications);
        assert_eq!((s.depth, s.in_flight, s.delayed, s.dead_letters), (0, 0, 0, 0));
    }

    async fn concurrent_claimers_never_get_the_same_job(t: TestDb) {
        let labels: Vec<String> = (0..200).map(|i| format!("job-{i}")).collect();
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        t.enqueue_noops(&refs).await;
        let seen: Arc<Mutex<HashMap<uuid::Uuid, usize>>> = Arc::default();
        let refused_acks: Arc<Mutex<Vec<uuid::Uuid>>> = Arc::default();
        let mut claimers = Vec::new();
        for _ in 0..4 {
            let queue = t.port();
            let (seen, refused_acks) = (seen.clone(), refused_acks.clone());
            claimers.push(tokio::spawn(async move {
                loop {
                    let batch = queue.claim_batch(Pool::Notifications, 7, LONG).await.unwrap();
                    if batch.is_empty() {
                        break;
                    }
                    for m in batch {
                        *seen.lock().unwrap().entry(m.lease.message_id).or_default() += 1;
                        if !queue.ack(&m.lease).await.unwrap() {
                            refused_acks.lock().unwrap().push(m.lease.message_id);
                        }
                    }
                }
            }));
        }
        for c in claimers {
            c.await.unwrap();
        }
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 200, "every job was claimed");
        let refused_acks = refused_acks.lock().unwrap().clone();
        if t.backend != Backend::Sqs {
            assert!(refused_acks.is_empty(), "a fresh lease acks: refused for {refused_acks:?}");
        } else {
            // When SQS hands one message to two receivers, the receipt handle of the earlier receive stops being
            // valid: that ack alone may be refused, and only for a message delivered more than once.
            for id in &refused_acks {
                assert!(seen[id] > 1, "job {id} was delivered once, yet its ack was refused");
            }
        }
        // A standard SQS queue delivers at least once and may hand the same message to two receivers (moto does
        // so under concurrent receives); only the database queue's claims are exclusive.
        let s = stats_of(&t.queue.stats().await.unwrap(), Pool::Notifications);
        if t.backend != Backend::Sqs {
            assert!(seen.values().all(|n| *n == 1), "no job was claimed twice");
            assert_eq!((s.depth, s.in_flight), (0, 0));
        } else {
            // SQS's in-flight figure is approximate, and after a duplicate delivery moto keeps counting the copy
            // whose message another receiver already deleted; nothing is left to claim either way.
            assert_eq!(s.depth, 0);
        }
    }

    async fn an_unacked_job_reappears_after_its_visibility_timeout_with_the_next_attempt(t: TestDb) {
        let sent = t.enqueue_noops(&["a"]).await;
        let lease = t.lease();
        let first = t.claim_n(Pool::Notifications, 1, lease).await;
        assert_eq!(first[0].receive_count, 1);
        t.elapse(lease / 3).await;
        assert!(t.queue.claim_batch(Pool::Notifications, 1, LONG).await.unwrap().is_empty());
        t.elapse(lease).await;
        let s = stats_of(&t.queue.stats().await.unwrap(), Pool::Notifications);
        assert_eq!((s.depth, s.in_flight), (1, 0), "an expired lease counts as ready");
        let second = t.claim_n(Pool::Notifications, 1, LONG).await;
        assert_eq!(second[0].lease.message_id, sent[0].job_id);
        assert_eq!(second[0].receive_count, 2);
    }

    async fn delayed_jobs_are_not_visible_before_their_time(t: TestDb) {
        let delay = t.lease();
        let env = Envelope::new(platform::jobs::Job::Noop { label: "later".into() }, None);
        t.queue.enqueue(std::slice::from_ref(&env), delay).await.unwrap();
        assert!(t.queue.claim_batch(Pool::Notifications, 10, LONG).await.unwrap().is_empty());
        let s = stats_of(&t.queue.stats().await.unwrap(), Pool::Notifications);
        assert_eq!((s.depth, s.delayed), (0, 1));
        t.elapse(delay / 4).await;
        assert!(t.queue.claim_batch(Pool::Notifications, 10, LONG).await.unwrap().is_empty());
        t.elapse(delay).await;
        let claimed = t.claim_n(Pool::Notifications, 1, LONG).await;
        assert_eq!(claimed[0].lease.message_id, env.job_id);
    }

    async fn released_jobs_are_ready_at_once_without_spending_an_attempt(t: TestDb) {
        t.enqueue_noops(&["a"]).await;
        let m = t.claim_n(Pool::Notifications, 1, LONG).await.remove(0);
        assert!(t.queue.release(&m).await.unwrap());
        let again = t.claim_n(Pool::Notifications, 1, LONG).await.remove(0);
        assert_eq!((again.lease.message_id, again.receive_count), (m.lease.message_id, 1));
    }

    async fn dead_letters_can_be_listed_shown_retried_and_purged(t: TestDb) {
        let sent = t.enqueue_noops(&["a", "b", "c"]).await;
        for m in t.claim_n(Pool::Notifications, 3, LONG).await {
            assert!(t.queue.dead_letter(&m, "broken").await.unwrap());
        }
        let s = stats_of(&t.queue.stats().await.unwrap(), Pool::Notifications);
        assert_eq!((s.depth, s.in_flight, s.dead_letters), (0, 0, 3));
        let list = t.queue.failed_list(Some(Pool::Notifications), 10).await.unwrap();
        assert_eq!(list.len(), 3);
        assert!(t.queue.failed_list(Some(Pool::Images), 10).await.unwrap().is_empty());
        let one = t.queue.failed_show(sent[0].job_id).await.unwrap().expect("dead letter a");
        assert_eq!((one.reason.as_str(), one.attempts, one.job_type.as_str()), ("broken", 1, "noop"));
        assert_eq!(Envelope::decode(&one.body).unwrap(), sent[0]);

        assert_eq!(t.queue.retry_failed(Some(sent[0].job_id), None).await.unwrap(), 1);
        let back = t.claim_n(Pool::Notifications, 1, LONG).await;
        assert_eq!((back[0].lease.message_id, back[0].receive_count), (sent[0].job_id, 1));
        assert!(t.queue.ack(&back[0].lease).await.unwrap());

        assert_eq!(t.queue.retry_failed(None, Some(Pool::Images)).await.unwrap(), 0);
        assert_eq!(t.queue.retry_failed(None, None).await.unwrap(), 2);
        for m in t.claim_n(Pool::Notifications, 2, LONG).await {
            assert!(t.queue.dead_letter(&m, "still broken").await.unwrap());
        }
        assert_eq!(t.queue.purge_failed(Some(Pool::Images)).await.unwrap(), 0);
        assert_eq!(t.queue.purge_failed(Some(Pool::Notifications)).await.unwrap(), 2);
        assert!(t.queue.failed_list(None, 10).await.unwrap().is_empty());
    }

    async fn the_age_of_the_oldest_ready_job_is_reported_where_the_backend_knows_it(t: TestDb) {
        t.enqueue_noops(&["a"]).await;
        if t.backend == Backend::Sqs {
            // SQS keeps the age as a CloudWatch metric only; a receive to look would spend an attempt.
            let s = stats_of(&t.queue.stats().await.unwrap(), Pool::Notifications);
            assert_eq!((s.depth, s.oldest_age), (1, None));
            return;
        }
        t.elapse(Duration::from_secs(90)).await;
        let s = stats_of(&t.queue.stats().await.unwrap(), Pool::Notifications);
        let age = s.oldest_age.expect("the database queue knows the age");
        assert!(age >= Duration::from_secs(90) && age < Duration::from_secs(120), "{s:?}");
    }
}

// SQS fences a lease with its receipt handle, and a delete or visibility change with an outdated handle is not
// refused (AWS: the call "succeeds"; moto even applies it), so this holds for the database queue only.
both_backends! {
    async fn concurrent_acks_each_learn_whether_their_own_lease_held(t: TestDb) {
        // Acks arriving together are written together; each must still get its own answer, including a stale
        // lease and the fresh lease of the same message acked at the same moment.
        let labels: Vec<String> = (0..60).map(|i| format!("job-{i}")).collect();
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        t.enqueue_noops(&refs).await;
        let stale = t.queue.claim_batch(Pool::Notifications, 1, LONG).await.unwrap().remove(0);
        t.clock.advance(LONG + Duration::from_secs(1));
        let fresh = t.queue.claim_batch(Pool::Notifications, 60, LONG).await.unwrap();
        assert_eq!(fresh.len(), 60, "the expired lease's message is claimed again with the rest");
        assert!(fresh.iter().any(|m| m.lease.message_id == stale.lease.message_id));

        let mut acks = tokio::task::JoinSet::new();
        let queue = t.port();
        for lease in fresh.iter().map(|m| m.lease.clone()).chain([stale.lease.clone()]) {
            let queue = queue.clone();
            acks.spawn(async move { (queue.ack(&lease).await.unwrap(), lease) });
        }
        let mut held = 0;
        while let Some(joined) = acks.join_next().await {
            let (acked, lease) = joined.unwrap();
            if lease == stale.lease {
                assert!(!acked, "the stale lease does not ack, even batched with the fresh one");
            } else {
                assert!(acked, "a fresh lease acks");
                held += 1;
            }
        }
        assert_eq!(held, 60);
        let s = stats_of(&t.queue.stats().await.unwrap(), Pool::Notifications);
        assert_eq!((s.depth, s.in_flight, s.dead_letters), (0, 0, 0));
        assert!(!t.queue.ack(&fresh[0].lease).await.unwrap(), "an ack of a gone message is refused");
    }

    async fn a_late_ack_after_the_lease_expired_is_ignored(t: TestDb) {
        t.enqueue_noops(&["a"]).await;
        let stale = t.queue.claim_batch(Pool::Notifications, 1, LONG).await.unwrap().remove(0);
        t.clock.advance(LONG + Duration::from_secs(1));
        let fresh = t.queue.claim_batch(Pool::Notifications, 1, LONG).await.unwrap().remove(0);
        assert!(!t.queue.ack(&stale.lease).await.unwrap(), "the old holder cannot ack");
        assert!(!t.queue.extend(&stale.lease, LONG).await.unwrap(), "nor extend");
        assert!(!t.queue.retry_later(&stale.lease, Duration::ZERO, "late").await.unwrap(), "nor retry");
        assert!(!t.queue.dead_letter(&stale, "late").await.unwrap(), "nor dead-letter");
        let s = stats_of(&t.queue.stats().await.unwrap(), Pool::Notifications);
        assert_eq!((s.in_flight, s.dead_letters), (1, 0), "the job is still leased to the new holder");
        assert!(t.queue.extend(&fresh.lease, LONG).await.unwrap());
        assert!(t.queue.ack(&fresh.lease).await.unwrap());
    }
}
