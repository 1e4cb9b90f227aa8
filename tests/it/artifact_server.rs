//! A local artifact host for the tests: std-only HTTP/1.1 on 127.0.0.1, one thread per
//! connection, and a count of the requests each path received (to prove a redirect target
//! was never fetched).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a path answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// 200 with `Content-Length` and these bytes.
    Bytes(Vec<u8>),
    /// 200 declaring `Content-Length: declared` but sending these bytes (then closing).
    Declared(u64, Vec<u8>),
    /// 200, `Transfer-Encoding: chunked`, these bytes in 64 KiB chunks.
    Chunked(Vec<u8>),
    /// This status, with a `Location` header when given and a short body.
    Status(u16, Option<String>),
    /// Read the request and say nothing for this long.
    Stall(Duration),
    /// Send headers (with this `Content-Length`) and these first bytes, then stall.
    StallBody(u64, Vec<u8>, Duration),
}

pub struct Server {
    addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Answer>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, h, s) = (Arc::clone(&routes), Arc::clone(&hits), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (r, h) = (Arc::clone(&r), Arc::clone(&h));
                std::thread::spawn(move || serve(stream, &r, &h));
            }
        });
        Server { addr, routes, hits, stop }
    }

    pub fn route(&self, path: &str, answer: Answer) {
        self.routes.lock().unwrap().insert(path.to_string(), answer);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many requests `path` received.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(stream: TcpStream, routes: &Mutex<HashMap<String, Answer>>, hits: &Mutex<HashMap<String, usize>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let answer = routes.lock().unwrap().get(&path).cloned().unwrap_or(Answer::Status(404, None));
    let mut out = stream;
    let _ = respond(&mut out, answer);
}

fn respond(out: &mut TcpStream, answer: Answer) -> std::io::Result<()> {
    match answer {
        Answer::Bytes(bytes) => {
            write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", bytes.len())?;
            out.write_all(&bytes)
        }
        Answer::Declared(declared, bytes) => {
            write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n")?;
            out.write_all(&bytes)
        }
        Answer::Chunked(bytes) => {
            write!(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")?;
            for chunk in bytes.chunks(64 * 1024) {
                write!(out, "{:x}\r\n", chunk.len())?;
                out.write_all(chunk)?;
                out.write_all(b"\r\n")?;
            }
            out.write_all(b"0\r\n\r\n")
        }
        Answer::Status(status, location) => {
            let body = format!("status {status}\n");
            write!(out, "HTTP/1.1 {status} Whatever\r\n")?;
            if let Some(location) = location {
                write!(out, "Location: {location}\r\n")?;
            }
            write!(out, "Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
        }
        Answer::Stall(wait) => {
            std::thread::sleep(wait);
            Ok(())
        }
        Answer::StallBody(declared, first, wait) => {
            write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n")?;
            out.write_all(&first)?;
            out.flush()?;
            std::thread::sleep(wait);
            Ok(())
        }
    }
}
