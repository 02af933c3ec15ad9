-- Fleet fencing (SPEC §6): one row per shard whose epoch only moves up. Every
-- write a fleet worker makes checks and raises it in the same transaction, so a
-- worker whose lease expired cannot apply anything once its successor has written.

CREATE TABLE shard_fences (
    tenant      TEXT COLLATE "C" NOT NULL,
    run_id      BIGINT NOT NULL,
    shard_id    TEXT COLLATE "C" NOT NULL,
    epoch       BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, run_id, shard_id)
);
