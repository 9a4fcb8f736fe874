-- rbk serve journal on PostgreSQL, version 3: the `concurrency` of an
-- integration as request slots shared by every node. A slot is held by a
-- token (node and request) until it is given back or `until_ms` (database
-- clock) passes: a node that dies frees its slots when their holds run out.
CREATE TABLE rbk_slots (
    name      text    NOT NULL,
    slot      integer NOT NULL,
    owner     text,
    until_ms  bigint,
    PRIMARY KEY (name, slot)
);
