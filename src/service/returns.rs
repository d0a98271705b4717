//! The list of returns (退/换/维修) by state: the VP's 待审批, the warehouse's 退货待收, and the
//! rest, read from the `return_state` index; only the orders on the page are loaded.

use super::customers::Page;
use super::{BackOffice, ServiceError};
use crate::domain::returns::{return_cases, ReturnCase, ReturnState};
use crate::views;

#[derive(Debug, Clone, Default)]
pub struct ReturnQuery {
    /// One state's queue, newest first; every state when absent.
    pub state: Option<ReturnState>,
    pub customer: Option<String>,
    pub cursor: Option<Vec<u8>>,
    pub limit: usize,
}

impl BackOffice {
    pub fn list_returns(&self, query: &ReturnQuery) -> Result<Page<ReturnCase>, ServiceError> {
        let prefix = query
            .state
            .map(|s| format!("{}|", s.as_str()))
            .unwrap_or_default();
        let entries =
            self.store
                .scan_index(views::RETURN_STATE, &prefix, query.cursor.as_deref(), true);
        let candidates = entries.filter_map(|entry| {
            let (key, order_id) = match entry {
                Ok(entry) => entry,
                Err(e) => return Some(Err(e.into())),
            };
            // `state|requested_at|request`: the request id is the value's last part.
            let value = String::from_utf8_lossy(&key);
            let request = value
                .rsplit('\0')
                .nth(1)
                .and_then(|v| v.rsplit('|').next())
                .unwrap_or_default()
                .to_string();
            // Another customer's return is skipped on the order's summary, without loading it.
            if let Some(customer) = &query.customer {
                match self.summary_of::<views::OrderSummary>(&order_id) {
                    Ok(Some(summary)) if &summary.customer_id != customer => return None,
                    Err(e) => return Some(Err(e)),
                    _ => {}
                }
            }
            let record = match self.store.record(&order_id) {
                Ok(Some(record)) => record,
                Ok(None) => return None,
                Err(e) => return Some(Err(e.into())),
            };
            let case = return_cases(&self.order_from(&order_id, &record))
                .into_iter()
                .find(|c| c.id == request)?;
            query
                .customer
                .as_ref()
                .is_none_or(|c| &case.customer_id == c)
                .then_some(Ok((key, case)))
        });
        Page::take(query.limit.clamp(1, 1000), candidates)
    }

    /// How many cases `state` holds, up to `cap` (a walk of the state's index range, keys only).
    pub fn return_count(&self, state: ReturnState, cap: usize) -> Result<usize, ServiceError> {
        let mut n = 0;
        for entry in self
            .store
            .scan_index(
                views::RETURN_STATE,
                &format!("{}|", state.as_str()),
                None,
                false,
            )
            .take(cap)
        {
            entry?;
            n += 1;
        }
        Ok(n)
    }
}
