//! Raw dht-rpc datagrams for injection tests.
