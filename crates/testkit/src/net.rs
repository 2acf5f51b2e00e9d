//! Loopback ports.

/// A TCP port on 127.0.0.1 free at the time of the call (bound, then released), for a child
/// process that must be told its port up front. Prefer binding port 0 in-process where possible:
/// another process may take the port in between.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_port_is_bindable() {
        let port = super::free_port();
        assert_ne!(port, 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    }
}
