//! Transport between nodes. The only module that opens sockets to peers.
