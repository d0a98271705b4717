//! Delivery delays (交期延误): the promised date as revised by 跟单, how late an order is, and
//! when it goes to the VP (上报销售副总).
//!
//! The promised date typed at order taking stays in the header; each 跟单 note with a revised
//! date is a fact, and the latest of them (in fact order, identical on every node) is the date
//! the order is now held to. So the history keeps every date the customer was told.

use chrono::NaiveDate;
use serde::Serialize;

use super::facts::FactBody;
use super::order::{Order, Status};

/// Days late after which an order goes to the VP when nobody configured otherwise.
pub const DEFAULT_ESCALATE_AFTER_DAYS: u32 = 3;
/// Revisions of the promised date after which an order goes to the VP, however late it is.
pub const ESCALATE_AFTER_REVISIONS: usize = 2;

/// The dates an order was promised for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    /// The date given when the order was taken.
    pub original: Option<NaiveDate>,
    /// The date the order is held to now: the last revised date, else the original.
    pub current: Option<NaiveDate>,
    /// How many 跟单 notes revised the date.
    pub revisions: usize,
    /// Whether the VP acknowledged the delay of the current date.
    pub acknowledged: bool,
}

pub fn schedule(order: &Order) -> Schedule {
    let original = order.get("promised_ship_date").parse::<NaiveDate>().ok();
    let revised: Vec<NaiveDate> = order
        .facts_of(|f| match &f.body {
            FactBody::Progress {
                revised_date: Some(d),
                ..
            } => Some(*d),
            _ => None,
        })
        .collect();
    let current = revised.last().copied().or(original);
    let acknowledged = current.is_some_and(|current| {
        order
            .facts_of(|f| match &f.body {
                FactBody::DelayAcknowledged { promised_date, .. } => Some(*promised_date),
                _ => None,
            })
            .any(|d| d == current)
    });
    Schedule {
        original,
        current,
        revisions: revised.len(),
        acknowledged,
    }
}

/// Whether goods are still owed on the order: taken and not yet shipped in full, cancelled or
/// archived. Only these can be late.
pub fn still_to_ship(status: Status) -> bool {
    matches!(
        status,
        Status::Taken
            | Status::Verified
            | Status::Approved
            | Status::InProduction
            | Status::AwaitingRelease
            | Status::Released
            | Status::PartiallyShipped
    )
}

/// How late an order is on `today`, from its schedule alone (so the list can be read from an
/// index without loading the order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Lateness {
    /// Days past the current promised date (0 or less: not past it).
    pub days_late: i64,
    /// Late more than the configured days, or revised twice: the VP's to acknowledge.
    pub escalated: bool,
}

/// None when the order is neither past its promised date nor revised more than once.
pub fn lateness(
    schedule: &Schedule,
    today: NaiveDate,
    escalate_after_days: u32,
) -> Option<Lateness> {
    let days_late = schedule
        .current
        .map(|d| (today - d).num_days())
        .unwrap_or(0);
    if days_late <= 0 && schedule.revisions < ESCALATE_AFTER_REVISIONS {
        return None;
    }
    Some(Lateness {
        days_late,
        escalated: days_late > i64::from(escalate_after_days)
            || schedule.revisions >= ESCALATE_AFTER_REVISIONS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn sched(current: &str, revisions: usize) -> Schedule {
        Schedule {
            original: Some(day("2026-11-01")),
            current: Some(day(current)),
            revisions,
            acknowledged: false,
        }
    }

    #[test]
    fn an_order_not_yet_due_and_revised_once_is_not_late() {
        assert_eq!(
            lateness(&sched("2026-12-10", 1), day("2026-12-03"), 3),
            None
        );
        assert_eq!(
            lateness(&sched("2026-12-03", 1), day("2026-12-03"), 3),
            None
        );
    }

    #[test]
    fn late_by_more_than_the_configured_days_escalates() {
        let l = lateness(&sched("2026-11-30", 0), day("2026-12-03"), 3).unwrap();
        assert_eq!((l.days_late, l.escalated), (3, false));
        let l = lateness(&sched("2026-11-29", 0), day("2026-12-03"), 3).unwrap();
        assert_eq!((l.days_late, l.escalated), (4, true));
        let l = lateness(&sched("2026-11-30", 0), day("2026-12-03"), 2).unwrap();
        assert!(l.escalated);
    }

    #[test]
    fn revised_twice_is_late_and_escalated_even_before_the_date() {
        let l = lateness(&sched("2026-12-20", 2), day("2026-12-03"), 3).unwrap();
        assert_eq!((l.days_late, l.escalated), (-17, true));
    }
}
