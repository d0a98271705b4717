//! The sync core: what to ask a peer for, what to answer, and how to apply what comes back.
//! No sockets and no tokio here; `net` carries these messages between nodes.

pub mod exchange;
pub mod peers;
pub mod protocol;
