//! The floor: what a hand-written reqwest loop costs for each workload of
//! bench/run.sh. Same client settings as rbk (rustls, connection pool,
//! TCP_NODELAY), one current-thread tokio runtime, serde_json parsing and a
//! jsonpath-rust query per capture.
//!
//!   floor w1|w2|w3|par|one [N] [CONCURRENCY]
//!
//! The server is $RBK_BENCH_URL (default http://127.0.0.1:8089).

use futures_util::StreamExt;
use jsonpath_rust::JsonPath;
use serde_json::Value;
use std::time::Instant;

fn capture(body: &[u8], path: &str) -> Value {
    let j: Value = serde_json::from_slice(body).expect("the body is JSON");
    let found = j.query(path).expect("a valid JSONPath");
    found.first().map(|v| (*v).clone()).unwrap_or(Value::Null)
}

async fn get(client: &reqwest::Client, url: &str, path: &str) -> Value {
    let resp = client.get(url).send().await.expect("GET");
    assert_eq!(resp.status().as_u16(), 200, "{url}");
    let body = resp.bytes().await.expect("body");
    capture(&body, path)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let workload = args.get(1).map(String::as_str).unwrap_or("w1");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let conc: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(32);
    let base = std::env::var("RBK_BENCH_URL").unwrap_or_else(|_| "http://127.0.0.1:8089".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .build()
        .expect("client");
    let started = Instant::now();
    let last: Value = rt.block_on(async {
        match workload {
            "one" => get(&client, &format!("{base}/items/1"), "$.name").await,
            "w1" => {
                let mut names = Vec::with_capacity(n);
                for i in 0..n {
                    names.push(get(&client, &format!("{base}/items/{i}"), "$.name").await);
                }
                names.pop().unwrap_or(Value::Null)
            }
            "w2" => {
                let mut orders = Vec::with_capacity(n);
                for i in 0..n {
                    let id = get(&client, &format!("{base}/items/{i}"), "$.id").await;
                    let body = serde_json::json!({"item": id, "quantity": 1, "note": format!("bench {i}")});
                    let resp = client
                        .post(format!("{base}/orders"))
                        .json(&body)
                        .send()
                        .await
                        .expect("POST");
                    assert_eq!(resp.status().as_u16(), 200);
                    let bytes = resp.bytes().await.expect("body");
                    orders.push(capture(&bytes, "$.id"));
                }
                orders.pop().unwrap_or(Value::Null)
            }
            "w3" => {
                let mut owners = Vec::with_capacity(n);
                for _ in 0..n {
                    owners.push(get(&client, &format!("{base}/big.json"), "$.meta.owner.profile.name").await);
                }
                owners.pop().unwrap_or(Value::Null)
            }
            "par" => {
                let client = &client;
                let base = &base;
                let names: Vec<Value> = futures_util::stream::iter(0..n)
                    .map(|i| async move { get(client, &format!("{base}/items/{i}"), "$.name").await })
                    .buffered(conc)
                    .collect()
                    .await;
                Value::from(names.len())
            }
            other => panic!("unknown workload {other}"),
        }
    });
    let elapsed = started.elapsed();
    eprintln!(
        "floor {workload} n={n}: {:.3}s, last capture {last}",
        elapsed.as_secs_f64()
    );
}
