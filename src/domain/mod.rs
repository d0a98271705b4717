//! The business, as plain types and rules: orders, customers, money, facts, derived status and
//! anomalies. Invariant: nothing here knows sled, Automerge, tokio or HTTP.

pub mod anomaly;
pub mod attest;
pub mod capitals;
pub mod complaint;
pub mod contract;
pub mod customer;
pub mod delay;
pub mod facts;
pub mod money;
pub mod order;
pub mod prospect;
pub mod receivable;
pub mod record;
pub mod report;
pub mod returns;
pub mod role;
pub mod validation;
