//! How long `rbk check` takes on a large program.
//!
//! The program is generated in memory: integrations with every kind of auth
//! block, methods with queries, headers, bodies, outputs and pagination, and
//! runbooks with steps, `if`/`else`, `for`, `parallel`, `until`, `else` arms,
//! `let`s, interpolated strings, comments and doc comments. Before measuring,
//! `main` asserts that the generated program checks without a single error,
//! so the benchmark measures the whole checker, not an early exit.
//!
//! ```text
//! cargo bench --bench check
//! RBK_BENCH_LINES=200000 cargo bench --bench check
//! RBK_BENCH_DEFAULT_MALLOC=1 cargo bench --bench check   # without rbk::memory
//! ```
//!
//! The figures and the target are in `docs/performance.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use divan::Bencher;
use rbk::syntax::span::FileId;

fn main() {
    // What `rbk check` and `rbk lsp` do first: keep freed memory for the
    // next parse (`rbk::memory`). `RBK_BENCH_DEFAULT_MALLOC=1` measures
    // without it.
    if std::env::var_os("RBK_BENCH_DEFAULT_MALLOC").is_none() {
        rbk::memory::keep_freed_memory();
    }
    dump();
    let program = &*PROGRAM;
    let checked = check(program);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(
        errors.is_empty(),
        "the generated program has {} error(s); first: {:#?}",
        errors.len(),
        errors.first()
    );
    eprintln!(
        "generated program: {} lines, {} bytes, {} warning(s)",
        program.lines().count(),
        program.len(),
        checked.diagnostics.len()
    );
    divan::main();
}

/// Lines in the generated program (default 50,000).
fn lines() -> usize {
    std::env::var("RBK_BENCH_LINES")
        .ok()
        .and_then(|s| s.replace('_', "").parse().ok())
        .unwrap_or(50_000)
}

static PROGRAM: LazyLock<String> = LazyLock::new(|| generate(lines()));

fn path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bench_generated.rbk")
}

fn check(text: &str) -> rbk::check::Checked {
    rbk::check::check(rbk::load::load_source(&path(), text.to_string()))
}

/// Parsing alone: pest and the AST builder.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn parse(bencher: Bencher) {
    let text = &*PROGRAM;
    bencher.bench(|| rbk::syntax::parse(FileId(0), divan::black_box(text)));
}

/// Parsing with pest's error-detail tracking off (`src/syntax/parser.rs`
/// turns it on for better syntax-error messages); shows what it costs.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn parse_without_error_detail(bencher: Bencher) {
    let text = &*PROGRAM;
    // The parser turns the detail on once, on its first call; turn it off
    // after that, and back on for the benchmarks that follow.
    let _ = rbk::syntax::parse(FileId(0), "");
    pest::set_error_detail(false);
    bencher.bench(|| rbk::syntax::parse(FileId(0), divan::black_box(text)));
    pest::set_error_detail(true);
}

/// What `rbk check` does: load (parse) and check.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn parse_and_check(bencher: Bencher) {
    let text = &*PROGRAM;
    bencher.bench(|| check(divan::black_box(text)));
}

// ---------------------------------------------------------------- the generator

/// A program of about `target` lines (never fewer): two instances, then
/// units of one integration, its methods and runbooks that call them, until
/// the line count is reached. Every name is unique, so the program checks
/// clean.
pub fn generate(target: usize) -> String {
    let mut out = String::with_capacity(target * 40);
    out.push_str(
        "# Generated for the `check` benchmark: a large, valid rbk program.\n\n\
         ## Production; the default instance.\n\
         instance prod {\n  url = \"https://acme.example\"\n  team = \"Ops\"\n}\n\n\
         ## User acceptance testing.\n\
         instance uat {\n  url = \"https://uat.acme.example\"\n  team = \"UAT\"\n}\n\n",
    );
    let mut unit = 0;
    let mut count = out.lines().count();
    while count < target {
        let start = out.len();
        unit_text(&mut out, unit);
        count += out[start..].lines().count();
        unit += 1;
    }
    out
}

/// One integration (auth kind chosen by `u`), six methods and four runbooks.
fn unit_text(out: &mut String, u: usize) {
    let i = format!("svc{u}");
    let w = |out: &mut String, s: &str| out.push_str(s);

    // ------------------------------------------------------------ integration
    let _ = write!(
        out,
        r#"# ---------------------------------------------------------------- unit {u}

## Service {u}: a REST API with its own authorization.
integration {i} {{
  base_url = "{{instance.url}}/svc{u}/api"
  version = "1.{u}"
  notes = "Owner: team {u}; rotate credentials every 90 days"
  timeout = 30s
  headers {{
    Accept = "application/json"
    "User-Agent" = "rbk-bench/{u}"
  }}
  retry {{
    attempts = 3
    backoff = 500ms
    max_backoff = 10s
    on = [429, 500..599]
  }}
  rate {{
    requests = 10
    per = 1s
    concurrency = 4
  }}
"#
    );
    match u % 5 {
        0 => w(
            out,
            r#"  auth oauth2 {
    grant = client_credentials
    token_url = "{instance.url}/auth/token"
    ## Fallback for an instance not listed below
    client_id = env("CLIENT_ID", "rbk")
    client_secret = secret("CLIENT_SECRET")
    scope = "all"
    default_expiry = 1h
    per_instance {
      prod {
        client_id = "prod-id"
        client_secret = secret("PROD_SECRET")
      }
      uat {
        client_id = "uat-id"
        client_secret = secret("UAT_SECRET")
      }
    }
  }
"#,
        ),
        1 => w(
            out,
            r#"  auth bearer {
    token = secret("TOKEN")
    header = "Authorization"
    prefix = "Bearer"
  }
"#,
        ),
        2 => w(
            out,
            r#"  auth basic {
    username = env("API_USER")
    password = secret("API_PASSWORD")
  }
"#,
        ),
        3 => w(
            out,
            r#"  auth api_key {
    name = "apikey"
    value = secret("API_KEY")
    in = query
  }
"#,
        ),
        _ => w(
            out,
            r#"  auth sign_hmac {
    key = secret("HMAC_KEY")
    algorithm = sha256
    header = "X-Signature"
    encoding = hex
    prefix = "sha256="
  }
"#,
        ),
    }
    w(out, "}\n\n");

    // ------------------------------------------------------------ methods
    let _ = write!(
        out,
        r#"## Lists the items of one team, a page at a time.
method {i}.list_items(
  ## The team name
  team: string,
  ## 1 (critical) to 5
  priority: int = 1,
) {{
  GET "/teams/{{team}}/items"
  query {{
    ## Results per page
    priority = priority
    open_only = "true"
    order = "created"
  }}
  headers {{
    "X-Request-Source" = "rbk"
  }}
  paginate page {{
    param = "page_no"
    size_param = "page_size"
    size = 50
    max_pages = 40
  }}
  output {{
    ## The items on this page
    items: [json] = $.items[*]
    total: int = $.record_count
  }}
}}

## Reads one item.
method {i}.get_item(id: int) {{
  GET "/items/{{id}}"
  timeout = 10s
  expect 200
  output {{
    ## One-line summary
    summary: string = $.summary
    state: string = $.state
    owner: string? = $.owner.email
    rows: int = $.row_count
    tags: [string] = $.tags[*]
  }}
}}

## Creates an item.
method {i}.create_item(title: string, details: string, priority: int = 3) {{
  POST "/items"
  body json {{
    title: title,
    details: details,
    priority: priority,
    source: "rbk",
  }}
  expect [200, 201]
  output {{
    ## The new item's id
    id: int = $.id
    url: string = $.links.self
  }}
}}

## Updates an item's state.
method {i}.set_state(id: int, state: string) {{
  PUT "/items/{{id}}/state"
  body form {{
    state = state
    reason = "automation"
  }}
  expect 200..299
  output {{
    new_state: string = $.state
  }}
}}

## Adds a comment, as plain text.
method {i}.add_comment(id: int, text: string) {{
  POST "/items/{{id}}/comments"
  body text text as "text/plain"
  expect 201
}}

## Lists events after a cursor.
method {i}.events(since: string) {{
  GET "/events"
  query {{
    since = since
  }}
  paginate cursor {{
    param = "cursor"
    next = $.meta.next_cursor
  }}
  output {{
    events: [json] = $.events[*]
    next_link = header("Link")
    code = status
  }}
}}

"#
    );

    // ------------------------------------------------------------ runbooks
    let _ = write!(
        out,
        r#"## Escalates the open items of a team and reports on each.
runbook escalate_{u}(
  ## The team whose queue is watched
  team: string = "Service Desk",
  notify: bool = true,
) {{
  trigger schedule "*/15 * * * *"

  let target: string = instance.team
  let greeting = "Escalating for {{team}} on {{instance.name}} ({{target}})"
  log greeting

  for page in {i}.list_items(team: team, priority: 1) {{
    log "{{len(page.items)}} of {{page.total}} items on this page"
    for item in page.items parallel 4 {{
      # Only unowned items are escalated.
      if item.owner == null and notify {{
        step moved = {i}.set_state(id: item.id, state: "escalated") else {{
          409 => log "item {{item.id}} changed while we looked"
          500..599 | timeout => log "the service is unavailable ({{moved.status}})"
        }}
        if moved.ok {{
          step noted = {i}.add_comment(id: item.id, text: "Escalated to {{target}} by rbk")
        }} else if item.priority > 2 {{
          log "item {{item.id}} stays where it is"
        }} else {{
          log "item {{item.id}}: {{moved.error}}"
        }}
      }}
    }}
  }}
  return {{ team: team, instance: instance.name }}
}}

## Creates an item, waits until it is processed, then reports.
runbook process_{u}(title: string, attempts: int = 20) {{
  let details = """
    Created by the benchmark runbook {u}.
    Title: {{title}}
    """
  step created = {i}.create_item(title: title, details: details) else {{
    400..499 => fail "the service refused {{title}}: {{created.status}}"
    _ => fail "could not create {{title}}: {{created.error}}"
  }}
  log "created {{created.url}}"

  # Poll every 5 seconds.
  step poll = {i}.get_item(id: created.id) until poll.state == "done" or poll.state == "failed" every 5s max 30 else {{
    timeout => fail "item {{created.id}} was not processed in time"
    error => fail "lost contact while polling {{created.id}}: {{poll.error}}"
  }}
  if poll.state == "failed" {{
    fail "item {{created.id}} failed: {{poll.owner ?? "nobody"}}"
  }}
  wait 2s

  parallel {{
    step first = {i}.add_comment(id: created.id, text: "{{poll.rows}} rows processed")
    {{
      step second = {i}.set_state(id: created.id, state: "closed")
      log "closed as {{second.new_state}}"
    }}
  }}
  let total = poll.rows * 2 + len(poll.tags) - 1
  if "urgent" in poll.tags or total > 100 {{
    log "large item: {{total}}"
  }}
  return {{
    id: created.id,
    rows: poll.rows,
    summary: upper(trim(poll.summary)),
  }}
}}

## Replays the events of the last day.
runbook replay_{u}(since: string = "2024-01-01T00:00:00Z") {{
  let stamp = format_time(now(), "%Y-%m-%d")
  let names = ["a", "b", "c"]
  for page in {i}.events(since: since) {{
    for e in page.events {{
      log "{{stamp}}: event {{e.id}} ({{page.code}})"
    }}
  }}
  for n in names {{
    step sub = run process_{u}(title: "replay {{n}} {{stamp}}")
    log "replayed {{sub.id}} with {{sub.rows}} rows"
  }}
  for k in range(3) {{
    wait 100ms
    log "tick {{k}}"
  }}
}}

## Reads one item and summarises it.
runbook summary_{u}(id: int) {{
  step item = {i}.get_item(id: id) else {{
    404 => fail "there is no item {{id}}"
  }}
  if item.state == "open" {{
    log "{{item.summary}} is open"
  }} else if item.state == "done" {{
    log "{{item.summary}} is done, {{item.rows}} rows"
  }} else {{
    log "{{item.summary}} is {{item.state}}"
  }}
  return {{
    summary: item.summary,
    owner: item.owner ?? "nobody",
    tags: join(item.tags, ", "),
  }}
}}

"#
    );
}

fn dump() {
    if let Ok(p) = std::env::var("RBK_BENCH_DUMP") {
        std::fs::write(p, &*PROGRAM).unwrap();
    }
}
