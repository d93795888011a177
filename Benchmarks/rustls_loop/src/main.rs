//! Capture benchmark loop for rustls: N × (Writer::write of one whole 1 KiB HTTP/1.1 request on
//! the client, Reader::read of it on the server), the client and the server each on its own
//! thread over a Unix socket pair (a server reading on the client's thread would be taken for
//! the client's connection: see bpf/rustls.bpf.h). The client writes a request, then waits for
//! the server's one-byte go-ahead on a plain pipe, so calls do not overlap and each iteration is
//! one write plus one read, as in the other loops.
//! Usage: rustls_loop N WAIT CERT.pem KEY.pem — waits WAIT seconds after the handshake (the
//! sensor probes a new binary after its exec), then prints nanoseconds per write + read.
use std::io::{BufReader, Read, Write};
use std::os::unix::net::UnixStream;
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
    let (cs, ss) = UnixStream::pair().expect("socketpair");
    let (mut go_tx, mut go_rx) = UnixStream::pair().expect("socketpair");
    let server = std::thread::spawn(move || {
        let mut s = rustls::StreamOwned::new(rustls::ServerConnection::new(scfg).expect("server"), ss);
        let mut buf = vec![0u8; 1024];
        for _ in 0..n {
            s.read_exact(&mut buf).expect("server read");
            go_tx.write_all(b"g").expect("go-ahead");
        }
    });
    let conn = rustls::ClientConnection::new(ccfg, rustls::ServerName::try_from("localhost").unwrap()).expect("client");
    let mut c = rustls::StreamOwned::new(conn, cs);
    c.conn.complete_io(&mut c.sock).expect("handshake");
    while c.conn.is_handshaking() { c.conn.complete_io(&mut c.sock).expect("handshake"); }
    std::thread::sleep(Duration::from_secs_f64(wait));
    let req = request();
    let mut one = [0u8; 1];
    let t = Instant::now();
    for _ in 0..n {
        c.write_all(&req).expect("client write");
        go_rx.read_exact(&mut one).expect("go-ahead");
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    server.join().unwrap();
    println!("{:.0}", ns);
}
