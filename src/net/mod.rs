//! Transport between nodes: the peer endpoint, the peer client, the sync loops and mDNS
//! discovery. The only module that opens sockets to peers; the only file that touches mdns-sd
//! is `mdns.rs`.

pub mod client;
pub mod mdns;
pub mod server;
pub mod syncer;
pub mod tls;
