-- Login rate limits shared by every issuer replica on this database: one
-- fixed window per key ('account:<email>', 'address:<ip>'). SQLite (one
-- replica) keeps its limits in memory and leaves this table empty.
CREATE TABLE rate_limits (
    key          TEXT    PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL
);

CREATE INDEX rate_limits_window ON rate_limits (window_start);
