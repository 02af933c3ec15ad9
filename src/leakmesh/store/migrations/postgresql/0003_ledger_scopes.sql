-- The done-ledger keyed by a small scope number instead of the tenant and policy
-- hash (two 64-character texts) on every row: a fleet marks every object it
-- scans, and the long keys made each insert cost nearly twice as much.

CREATE TABLE ledger_scopes (
    scope        INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant       TEXT COLLATE "C" NOT NULL,
    policy_hash  TEXT COLLATE "C" NOT NULL,
    UNIQUE (tenant, policy_hash)
);

INSERT INTO ledger_scopes (tenant, policy_hash)
SELECT DISTINCT tenant, policy_hash FROM done_ledger ORDER BY tenant, policy_hash;

-- No foreign key to ledger_scopes: it would be one more probe per marked row,
-- and scopes are never deleted.
CREATE TABLE done_ledger_scoped (
    scope        INTEGER NOT NULL,
    object_id    TEXT COLLATE "C" NOT NULL,
    status       SMALLINT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT done_ledger_scoped_pkey PRIMARY KEY (scope, object_id)
);

INSERT INTO done_ledger_scoped (scope, object_id, status, updated_at)
SELECT s.scope, l.object_id, l.status, l.updated_at
FROM done_ledger AS l
JOIN ledger_scopes AS s ON s.tenant = l.tenant AND s.policy_hash = l.policy_hash;

DROP TABLE done_ledger;
ALTER TABLE done_ledger_scoped RENAME TO done_ledger;
ALTER TABLE done_ledger RENAME CONSTRAINT done_ledger_scoped_pkey TO done_ledger_pkey;
