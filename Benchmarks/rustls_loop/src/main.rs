//! Capture benchmark loop for rustls: N × (Writer::write of one whole 1 KiB HTTP/1.1 request on
//! the client, Reader::read of it on the server), in memory in one thread (the TLS records are
//! moved between the two connections by hand: no socket, as OpenSSL's BIO pair in ssl_loop.c).
//! The server's connection is on the heap, the client's on the stack: the sensor pairs a read
//! with the connection its buffer lies in (bpf/rustls.bpf.h), so the server's reads must not lie
//! just above the client. The reading side is the server's, kept quiet as on a node.
//! Usage: rustls_loop N WAIT CERT.pem KEY.pem — waits WAIT seconds after the handshake (the
//! sensor probes a new binary after its exec), then prints nanoseconds per write + read.
use std::io::{BufReader, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

struct AnyCert;
impl rustls::client::ServerCertVerifier for AnyCert {
    fn verify_server_cert(&self, _: &rustls::Certificate, _: &[rustls::Certificate], _: &rustls::ServerName,
                          _: &mut dyn Iterator<Item = &[u8]>, _: &[u8], _: SystemTime)
                          -> Result<rustls::client::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::ServerCertVerified::assertion())
    }
}

fn request() -> Vec<u8> {
    let mut body = 924;
    loop {
        let head = format!("POST /bench HTTP/1.1\r\nHost: bench\r\nContent-Length: {}\r\n\r\n", body);
        if head.len() + body == 1024 {
            let mut v = head.into_bytes();
            for i in v.len()..1024 { v.push(b'a' + (i % 26) as u8); }
            return v;
        }
        body = 1024 - head.len();
    }
}

/// Moves every pending TLS record from one connection to the other.
fn pump(from: &mut rustls::Connection, to: &mut rustls::Connection, wire: &mut Vec<u8>) {
    wire.clear();
    while from.wants_write() { from.write_tls(wire).expect("write_tls"); }
    let mut rd = &wire[..];
    while !rd.is_empty() {
        to.read_tls(&mut rd).expect("read_tls");
        to.process_new_packets().expect("process_new_packets");
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 { eprintln!("usage: rustls_loop N WAIT CERT.pem KEY.pem"); std::process::exit(2); }
    let n: usize = a[1].parse().expect("N");
    let wait: f64 = a[2].parse().expect("WAIT");
    let certs = rustls_pemfile::certs(&mut BufReader::new(std::fs::File::open(&a[3]).expect("cert"))).expect("cert pem");
    let key = rustls_pemfile::pkcs8_private_keys(&mut BufReader::new(std::fs::File::open(&a[4]).expect("key"))).expect("key pem").remove(0);
    let scfg = Arc::new(rustls::ServerConfig::builder().with_safe_defaults().with_no_client_auth()
        .with_single_cert(certs.into_iter().map(rustls::Certificate).collect(), rustls::PrivateKey(key)).expect("server config"));
    let ccfg = Arc::new(rustls::ClientConfig::builder().with_safe_defaults()
        .with_custom_certificate_verifier(Arc::new(AnyCert)).with_no_client_auth());
    let mut client = rustls::Connection::Client(
        rustls::ClientConnection::new(ccfg, rustls::ServerName::try_from("localhost").unwrap()).expect("client"));
    let mut server = Box::new(rustls::Connection::Server(rustls::ServerConnection::new(scfg).expect("server")));
    let mut wire = Vec::with_capacity(1 << 16);
    while client.is_handshaking() || server.is_handshaking() {
        pump(&mut client, &mut server, &mut wire);
        pump(&mut server, &mut client, &mut wire);
    }
    std::thread::sleep(Duration::from_secs_f64(wait));
    let req = request();
    let mut buf = vec![0u8; 1024];
    let t = Instant::now();
    for _ in 0..n {
        client.writer().write_all(&req).expect("client write");
        pump(&mut client, &mut server, &mut wire);
        server.reader().read_exact(&mut buf).expect("server read");
    }
    println!("{:.0}", t.elapsed().as_nanos() as f64 / n as f64);
}
