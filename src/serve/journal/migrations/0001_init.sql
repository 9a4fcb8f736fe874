-- rbk serve journal, version 1. Times are Unix milliseconds (UTC).
-- Columns named *_sealed hold AEAD ciphertext (see src/serve/journal/seal.rs):
-- they may hold secret values. Every other text column is masked.

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    runbook       TEXT    NOT NULL,
    state         TEXT    NOT NULL,   -- queued running succeeded failed cancelled needs_attention
    trigger_kind  TEXT    NOT NULL,   -- webhook schedule api
    trigger_info  TEXT    NOT NULL,   -- JSON, masked
    args_shown    TEXT    NOT NULL,   -- JSON, secrets masked
    args_sealed   BLOB    NOT NULL,   -- JSON of the arguments, sealed
    result_shown  TEXT,               -- JSON, secrets masked
    error         TEXT,               -- masked
    error_code    TEXT,
    attention     TEXT,               -- why the run needs an operator (masked)
    cancel        INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER
);
CREATE INDEX runs_by_state ON runs (state, id);
CREATE INDEX runs_by_runbook ON runs (runbook, id);
CREATE INDEX runs_by_finish ON runs (finished_at);

-- A webhook delivery id (`dedupe`): the second delivery answers the first run.
CREATE TABLE deliveries (
    hook      TEXT    NOT NULL,
    delivery  TEXT    NOT NULL,
    run_id    INTEGER NOT NULL,
    PRIMARY KEY (hook, delivery)
);

-- A schedule's fire time: runs once, across restarts.
CREATE TABLE fires (
    schedule  TEXT    NOT NULL,
    fire_at   INTEGER NOT NULL,
    run_id    INTEGER NOT NULL,
    PRIMARY KEY (schedule, fire_at)
);

-- One request: its intent before it is sent, its result after.
CREATE TABLE calls (
    run_id       INTEGER NOT NULL,
    path         TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    step         TEXT    NOT NULL,
    verb         TEXT    NOT NULL,
    url          TEXT    NOT NULL,   -- masked
    idempotent   INTEGER NOT NULL,
    idem_header  TEXT,
    idem_key     TEXT,
    sends        INTEGER NOT NULL DEFAULT 1,
    intent_at    INTEGER NOT NULL,
    result_at    INTEGER,
    status       INTEGER,
    error        TEXT,               -- masked
    elapsed_ms   INTEGER,
    answer_sealed BLOB,              -- the response or failure, sealed (the answer on resume)
    resolution   TEXT,               -- retry | fail, chosen by an operator
    PRIMARY KEY (run_id, path, seq)
);

-- Values that differ between executions: now(), uuid(), wait deadlines.
CREATE TABLE vals (
    run_id  INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    path    TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    value   TEXT    NOT NULL,
    PRIMARY KEY (run_id, kind, path, seq)
);

-- Steps as they started and finished, for the API and the page.
CREATE TABLE steps (
    run_id       INTEGER NOT NULL,
    path         TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    state        TEXT    NOT NULL,   -- running succeeded failed
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    status       INTEGER,
    outputs      TEXT,               -- JSON, secrets masked
    error        TEXT,               -- masked
    PRIMARY KEY (run_id, path, seq)
);
