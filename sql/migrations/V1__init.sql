-- adrec schema v1.

-- The served table is a public contract (BI tools and other readers query it): its columns, types
-- and key stay exactly as below; a later migration may only add to it compatibly.
CREATE TYPE rec_model AS ENUM ('top_ctr', 'top_product');

CREATE TABLE recommendations (
    date          date             NOT NULL,
    advertiser_id text             NOT NULL,
    model         rec_model        NOT NULL,
    rank          smallint         NOT NULL CHECK (rank BETWEEN 1 AND 20),
    product_id    text             NOT NULL,
    score         double precision NOT NULL,  -- ctr for top_ctr, views for top_product
    clicks        bigint,                     -- top_ctr only
    impressions   bigint,                     -- top_ctr only
    views         bigint,                     -- top_product only
    PRIMARY KEY (advertiser_id, model, date, rank)
);

-- "Latest published date" (max(date)), /stats and retention pruning all go by date.
CREATE INDEX recommendations_date_idx ON recommendations (date);

-- One row per job run, from the HTTP API or the CLI.
CREATE TABLE job_runs (
    id          uuid        PRIMARY KEY,
    task        text        NOT NULL,
    date        date        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    trigger     text        NOT NULL,              -- 'http' or 'cli'
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz,
    rows_in     bigint,
    rows_out    bigint,
    bad_rows    bigint,
    details     jsonb       NOT NULL DEFAULT '{}', -- per-input counts, files, stage results
    error       text
);

-- At most one running run per (task, date), across every instance of the service: a second
-- trigger fails on this index and is answered 409 with the running run's id.
CREATE UNIQUE INDEX job_runs_one_running ON job_runs (task, date) WHERE status = 'running';
CREATE INDEX job_runs_task_date ON job_runs (task, date, created_at DESC);
CREATE INDEX job_runs_created ON job_runs (created_at DESC);
