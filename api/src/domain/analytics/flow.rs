//! The arithmetic of the analytics, free of storage: daily series from counters, the cumulative flow walked back
//! from today's distribution, and medians of durations. Unit-tested here with known answers.
use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use platform::events::counter_names as names;
use platform::events::DailyCounter;

/// Counter values by day and name, summed over the projects they were read for.
#[derive(Debug, Default)]
pub struct Counts(HashMap<(NaiveDate, String), i64>);

impl Counts {
    pub fn add(&mut self, counters: impl IntoIterator<Item = DailyCounter>) {
        for c in counters {
            *self.0.entry((c.date, c.name)).or_default() += c.value;
        }
    }

    pub fn get(&self, date: NaiveDate, name: &str) -> i64 {
        self.0.get(&(date, name.to_owned())).copied().unwrap_or(0)
    }
}

/// One day of the created-vs-completed series.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DaySeries {
    pub date: NaiveDate,
    pub created: i64,
    pub completed: i64,
    pub reopened: i64,
}

/// Every day from `from` to `to`, zeros where nothing was counted.
pub fn days(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

pub fn daily(counts: &Counts, from: NaiveDate, to: NaiveDate) -> Vec<DaySeries> {
    days(from, to)
        .map(|date| DaySeries {
            date,
            created: counts.get(date, names::TASKS_CREATED),
            completed: counts.get(date, names::TASKS_COMPLETED),
            reopened: counts.get(date, names::TASKS_REOPENED),
        })
        .collect()
}

/// Tasks per status category at the end of one day, in [`names::CATEGORIES`] order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlowDay {
    pub date: NaiveDate,
    pub by_category: [i64; 5],
}

/// The cumulative flow from `from` to `to`: the end-of-day distribution, walked back from `now_by_category`
/// (the live tasks now) by undoing each later day's net flow (`flow_in_*` − `flow_out_*`) up to `today`. Days after
/// `today` show the distribution now. `counts` must hold the flow counters from `from` + 1 to `today`.
pub fn cumulative_flow(
    counts: &Counts,
    now_by_category: [i64; 5],
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
) -> Vec<FlowDay> {
    let net = |date: NaiveDate, i: usize| {
        let c = names::CATEGORIES[i];
        counts.get(date, &format!("{}{c}", names::FLOW_IN)) - counts.get(date, &format!("{}{c}", names::FLOW_OUT))
    };
    // Walk back from today to `from`, recording the days asked for.
    let mut state = now_by_category;
    let mut out: Vec<FlowDay> = Vec::new();
    let mut day = today;
    while day >= from {
        if day <= to {
            out.push(FlowDay { date: day, by_category: state.map(|n| n.max(0)) });
        }
        for (i, slot) in state.iter_mut().enumerate() {
            *slot -= net(day, i);
        }
        match day.checked_sub_days(Days::new(1)) {
            Some(d) => day = d,
            None => break,
        }
    }
    out.reverse();
    let after_today = days(today.succ_opt().unwrap_or(today).max(from), to).filter(|d| *d > today);
    out.extend(after_today.map(|date| FlowDay { date, by_category: now_by_category }));
    out
}

/// The median of `hours` (sorted in place), `None` when empty.
pub fn median(hours: &mut [f64]) -> Option<f64> {
    if hours.is_empty() {
        return None;
    }
    hours.sort_by(f64::total_cmp);
    let mid = hours.len() / 2;
    Some(if hours.len() % 2 == 1 { hours[mid] } else { (hours[mid - 1] + hours[mid]) / 2.0 })
}

/// Hours from `start` to `end`, never negative (clock skew between writers).
pub fn hours_between(start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    ((end - start).num_milliseconds().max(0) as f64) / 3_600_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn counter(date: &str, name: &str, value: i64) -> DailyCounter {
        DailyCounter { date: d(date), project_id: None, name: name.into(), value }
    }

    #[test]
    fn the_daily_series_covers_every_day_and_sums_projects() {
        let mut counts = Counts::default();
        counts.add([counter("2026-11-02", "tasks_created", 2), counter("2026-11-02", "tasks_completed", 1)]);
        counts.add([counter("2026-11-02", "tasks_created", 3), counter("2026-11-04", "tasks_reopened", 1)]);
        let series = daily(&counts, d("2026-11-01"), d("2026-11-04"));
        assert_eq!(series.len(), 4);
        assert_eq!(series[1], DaySeries { date: d("2026-11-02"), created: 5, completed: 1, reopened: 0 });
        assert_eq!(series[0].created + series[2].created, 0);
        assert_eq!(series[3].reopened, 1);
    }

    #[test]
    fn the_cumulative_flow_undoes_later_days_from_the_distribution_now() {
        // Nov 1: 3 tasks created in backlog. Nov 2: one moved backlog → started. Nov 3: it completes.
        let mut counts = Counts::default();
        counts.add([
            counter("2026-11-01", "flow_in_backlog", 3),
            counter("2026-11-02", "flow_out_backlog", 1),
            counter("2026-11-02", "flow_in_started", 1),
            counter("2026-11-03", "flow_out_started", 1),
            counter("2026-11-03", "flow_in_completed", 1),
        ]);
        let now = [2, 0, 0, 1, 0];
        let flow = cumulative_flow(&counts, now, d("2026-10-31"), d("2026-11-05"), d("2026-11-04"));
        let rows: Vec<(NaiveDate, [i64; 5])> = flow.iter().map(|f| (f.date, f.by_category)).collect();
        assert_eq!(
            rows,
            vec![
                (d("2026-10-31"), [0, 0, 0, 0, 0]),
                (d("2026-11-01"), [3, 0, 0, 0, 0]),
                (d("2026-11-02"), [2, 0, 1, 0, 0]),
                (d("2026-11-03"), [2, 0, 0, 1, 0]),
                (d("2026-11-04"), [2, 0, 0, 1, 0]),
                (d("2026-11-05"), [2, 0, 0, 1, 0]),
            ]
        );
        // A range that ends before today still undoes the days after it.
        let early = cumulative_flow(&counts, now, d("2026-11-01"), d("2026-11-02"), d("2026-11-04"));
        assert_eq!(early.iter().map(|f| f.by_category).collect::<Vec<_>>(), vec![[3, 0, 0, 0, 0], [2, 0, 1, 0, 0]]);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        let t0: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
        assert_eq!(hours_between(t0, t0 + chrono::Duration::minutes(90)), 1.5);
        assert_eq!(hours_between(t0, t0 - chrono::Duration::minutes(1)), 0.0);
    }
}
