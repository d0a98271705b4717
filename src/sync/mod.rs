//! The sync core: plain data and decisions, no sockets and no tokio.

pub mod peers;
