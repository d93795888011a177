//! A Rust HTTPS client on rustls, as Rust CLIs use it. The server's certificate is not checked
//! (as `wget --no-check-certificate`): the test server's is self-signed.
//!
//!   rustls_client URL BODY KEY [COUNT]
//!     POSTs BODY (JSON) to URL with `Authorization: Bearer KEY` COUNT times on one keep-alive
//!     connection (ureq) and prints each answer.
//!   rustls_client --interleave PORT BODY_A BODY_B KEY
//!     Two connections to 127.0.0.1:PORT on rustls streams, as an async runtime drives them:
//!     both requests written before either answer is read, the first answers read on another
//!     thread than the one that wrote, twice. Conn B asks for a 3-word answer (X-Chunks: 3).
//!   rustls_client --many PORT N BODY KEY
//!     N connections, every request written first (each right after its connection opens), then
//!     the answers read in reverse order on another thread.
//!   rustls_client --vectored PORT BODY KEY
//!     One call whose head and body go out in one write_vectored (as hyper writes them).
//!   rustls_client --hangup PORT BODY KEY DONE_FILE
//!     One streamed call (X-Chunks: 2000) whose first bytes are read, then the connection is
//!     dropped (the user stopped it); prints "hung up" and lives on until DONE_FILE exists.
use std::io::{BufRead, BufReader, IoSlice, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::SystemTime;

struct AnyCert;
impl rustls::client::ServerCertVerifier for AnyCert {
    fn verify_server_cert(&self, _: &rustls::Certificate, _: &[rustls::Certificate], _: &rustls::ServerName,
                          _: &mut dyn Iterator<Item = &[u8]>, _: &[u8], _: SystemTime)
                          -> Result<rustls::client::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::ServerCertVerified::assertion())
    }
}

fn config() -> Arc<rustls::ClientConfig> {
    Arc::new(rustls::ClientConfig::builder()
        .with_safe_defaults()
        .with_custom_certificate_verifier(Arc::new(AnyCert))
        .with_no_client_auth())
}

type Tls = BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

fn connect(port: &str) -> Tls {
    let name = rustls::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config(), name).expect("tls");
    let sock = TcpStream::connect(format!("127.0.0.1:{}", port)).expect("connect");
    BufReader::new(rustls::StreamOwned::new(conn, sock))
}

fn send(s: &mut Tls, body: &str, key: &str, chunks: u32) {
    let head = format!("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                        Authorization: Bearer {}\r\nX-Chunks: {}\r\nContent-Length: {}\r\n\r\n", key, chunks, body.len());
    s.get_mut().write_all(format!("{}{}", head, body).as_bytes()).expect("write");
    s.get_mut().flush().expect("flush");
}

fn send_vectored(s: &mut Tls, body: &str, key: &str) {
    let head = format!("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                        Authorization: Bearer {}\r\nContent-Length: {}\r\n\r\n", key, body.len());
    let owned = s.get_mut();
    let mut stream = rustls::Stream::new(&mut owned.conn, &mut owned.sock);
    let n = stream.write_vectored(&[IoSlice::new(head.as_bytes()), IoSlice::new(body.as_bytes())]).expect("write_vectored");
    assert_eq!(n, head.len() + body.len(), "rustls took the whole request");
    stream.flush().expect("flush");
}

fn receive(s: &mut Tls) -> String {
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        s.read_line(&mut line).expect("read head");
        let l = line.trim_end();
        if l.is_empty() { break; }
        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") { len = v.trim().parse().unwrap_or(0); }
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("read body");
    String::from_utf8_lossy(&body).into_owned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 6 && args[1] == "--interleave" {
        let (port, a_body, b_body, key) = (&args[2], &args[3], &args[4], &args[5]);
        let (mut a, mut b) = (connect(port), connect(port));
        // the first answers are read on a thread that never wrote (a task polled by another
        // worker thread; the connections stay where they are, as in a pinned future), the later
        // ones after the other connection's write
        send(&mut a, a_body, key, 0);
        send(&mut b, b_body, key, 3);
        std::thread::scope(|t| {
            t.spawn(|| {
                println!("{}", receive(&mut a));
                println!("{}", receive(&mut b));
            });
        });
        send(&mut a, a_body, key, 0);
        send(&mut b, b_body, key, 3);
        println!("{}", receive(&mut a));
        println!("{}", receive(&mut b));
        return;
    }
    if args.len() >= 6 && args[1] == "--many" {
        let n: usize = args[3].parse().expect("N");
        let mut conns: Vec<Tls> = Vec::with_capacity(n); // no reallocation: connections stay put
        for i in 0..n {
            conns.push(connect(&args[2]));
            send(conns.last_mut().unwrap(), &args[4].replace("{i}", &i.to_string()), &args[5], 0);
        }
        std::thread::scope(|t| {
            t.spawn(|| {
                for c in conns.iter_mut().rev() { println!("{}", receive(c)); }
            });
        });
        return;
    }
    if args.len() >= 6 && args[1] == "--hangup" {
        let mut c = connect(&args[2]);
        send(&mut c, &args[3], &args[4], 2000);
        loop { // the head, then the first chunks of the body
            let mut line = String::new();
            c.read_line(&mut line).expect("read head");
            if line.trim_end().is_empty() { break; }
        }
        let mut body = Vec::new();
        while body.len() < 300 {
            let mut buf = [0u8; 512];
            let n = c.read(&mut buf).expect("read");
            assert!(n > 0, "the answer goes on");
            body.extend_from_slice(&buf[..n]);
        }
        drop(c);
        println!("hung up");
        std::io::stdout().flush().unwrap();
        while !std::path::Path::new(&args[5]).exists() { std::thread::sleep(std::time::Duration::from_millis(20)); }
        return;
    }
    if args.len() >= 5 && args[1] == "--vectored" {
        let mut c = connect(&args[2]);
        send_vectored(&mut c, &args[3], &args[4]);
        println!("{}", receive(&mut c));
        return;
    }
    if args.len() < 4 {
        eprintln!("usage: rustls_client URL BODY KEY [COUNT] | --interleave PORT BODY_A BODY_B KEY | --vectored PORT BODY KEY");
        std::process::exit(2);
    }
    let count: usize = args.get(4).and_then(|c| c.parse().ok()).unwrap_or(1);
    let agent = ureq::AgentBuilder::new().tls_config(config()).build();
    for _ in 0..count {
        match agent.post(&args[1]).set("Content-Type", "application/json")
            .set("Authorization", &format!("Bearer {}", args[3])).send_string(&args[2]) {
            Ok(r) => println!("{}", r.into_string().unwrap_or_default()),
            Err(e) => { eprintln!("request failed: {}", e); std::process::exit(1); }
        }
    }
}
