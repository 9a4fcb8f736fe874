//! A real PostgreSQL server for the tests: Debian's binaries (found through
//! `RBK_PG_BIN`, which `.ci/setup-postgres.sh` exports, or in
//! /usr/lib/postgresql/*/bin), a fresh cluster made by `initdb` in a
//! temporary directory, listening on a free loopback port, with password
//! authentication (so that the tests can check the password never shows).
//! The tests stop and start it to cut the journal off mid-run. When the
//! tests run as root, the server runs as the `postgres` user (initdb
//! refuses root).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "pg-PASSWORD-s3cret-77";

pub struct Pg {
    pub dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    as_postgres: bool,
}

fn bin_dir() -> PathBuf {
    if let Ok(b) = std::env::var("RBK_PG_BIN") {
        return PathBuf::from(b);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("PostgreSQL's server binaries are not installed: run .ci/setup-postgres.sh or set RBK_PG_BIN")
    })
}

impl Pg {
    /// `initdb` and start a cluster; waits until it answers.
    pub fn start() -> Pg {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = unsafe { libc::geteuid() } == 0;
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown to postgres failed");
        }
        let pw = dir.path().join("pw");
        std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
        if as_postgres {
            Command::new("chown")
                .arg("postgres")
                .arg(&pw)
                .status()
                .unwrap();
        }
        let pg = Pg {
            port: super::free_port(),
            dir,
            bin,
            as_postgres,
        };
        let out = pg
            .cmd("initdb")
            .arg("-D")
            .arg(pg.data())
            .args([
                "-U",
                "rbk",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pw.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Quick to start and stop; a test cluster, not a durable one.
        let conf = pg.data().join("postgresql.conf");
        let mut c = std::fs::read_to_string(&conf).unwrap();
        c.push_str("\nfsync = off\nmax_connections = 300\nshared_buffers = 32MB\n");
        std::fs::write(&conf, c).unwrap();
        pg.up();
        pg
    }

    fn cmd(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self) -> String {
        format!("postgres://rbk:{PASSWORD}@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn up(&self) {
        let out = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.dir.path().display()
            ))
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "60", "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
        let until = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < until, "PostgreSQL did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server at once (connections are cut, as in a crash of
    /// the database or a failover).
    pub fn down(&self) {
        let out = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// One SQL statement through psql; its rows, `|`-separated.
    pub fn sql(&self, query: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .arg(self.url())
            .args(["-X", "-t", "-A", "-c", query])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {query}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn count(&self, query: &str) -> i64 {
        self.sql(query).parse().unwrap_or(-1)
    }

    /// The server's own log (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
