CREATE TABLE IF NOT EXISTS streams (
    id          TEXT PRIMARY KEY NOT NULL,
    title       TEXT NOT NULL,
    stream_key  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);
