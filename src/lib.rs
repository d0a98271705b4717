//! neiqin (内勤): an offline-first sync node for a sales back office.
//!
//! Every clerk, warehouse and finance machine runs one node. The parts, from the inside out:
//!
//! - [`domain`]: orders, customers, money, facts, derived status and anomalies; plain types.
//! - [`store`]: the document store over sled: Automerge documents as snapshot plus chunks, the
//!   change feed, indexes, bounded cache, group commit.
//! - [`views`]: what the store indexes about each document (the projector).
//! - [`service`]: the use cases; rules checked on what this node knows.
//! - [`http`]: the local API (axum).
//! - [`ui`]: the browser workbench (server-rendered pages over the same use cases).
//! - [`sync`]: the sans-IO sync core (what to ask a peer for, what to apply).
//! - [`net`]: the peer endpoint, the peer client and mDNS discovery.
//! - [`pki`]: the cluster CA and node certificates (who a peer is, which roles it may author).
//! - [`authority`]: facts signed by their node, counted only within its certificate's roles.
//! - [`revocation`]: the CA-signed, numbered list of nodes shut out, passed along by every node.
//! - [`node`]: the one place that opens the store, spawns tasks and shuts them down.
//! - [`import`] and [`backup`]: fixtures in, every document out and back.

pub mod authority;
pub mod backup;
pub mod config;
pub mod domain;
pub mod http;
pub mod identity;
pub mod import;
pub mod net;
pub mod node;
pub mod parallel;
pub mod pki;
pub mod render;
pub mod revocation;
pub mod service;
pub mod store;
pub mod sync;
pub mod ui;
pub mod views;
