//! One integration-test binary: real nodes (temp sled directories, HTTP on port 0, real sync
//! between them), driven through their HTTP API.

mod harness;
mod lan;
mod testnet;

mod anomalies;
mod api_bad_input;
mod api_roles;
mod attestation;
mod authority;
mod backup;
mod browser;
mod certificates;
mod complaints;
mod contract_limits;
mod contracts;
mod convergence;
mod crash;
mod customer_items;
mod damage;
mod dealers;
mod delays;
mod disk_full;
mod flow;
mod lifecycle;
mod page_reads;
mod peer_security;
mod permissions;
mod prospects;
mod receivables;
mod reports;
mod revocation;
mod rules;
mod single_node;
mod sync;
mod tallies;
mod ui;
mod ui_complaints;
mod ui_customers;
mod ui_delays;
mod ui_receivables;
mod ui_reports;
mod ui_returns;
