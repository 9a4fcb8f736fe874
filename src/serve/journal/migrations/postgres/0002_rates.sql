-- rbk serve journal on PostgreSQL, version 2: the `rate { requests, per }`
-- of an integration as one token bucket shared by every node, named by the
-- integration. `tokens` is refilled by the database clock's time passed.
CREATE TABLE rbk_rates (
    name     text             PRIMARY KEY,
    tokens   double precision NOT NULL,
    last_ms  bigint           NOT NULL
);
