-- The current version of every resource: reading it is one primary-key lookup.
CREATE TABLE resources (
    res_type     TEXT    NOT NULL,
    res_id       TEXT    NOT NULL,
    version      BIGINT  NOT NULL,
    last_updated BIGINT  NOT NULL, -- microseconds since the Unix epoch, UTC
    deleted      BOOLEAN NOT NULL,
    content      TEXT,             -- the resource as FHIR JSON; NULL once deleted
    PRIMARY KEY (res_type, res_id)
);

-- Every version ever written, deletions included; `seq` orders the history.
CREATE TABLE resource_versions (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    res_type     TEXT    NOT NULL,
    res_id       TEXT    NOT NULL,
    version      BIGINT  NOT NULL,
    last_updated BIGINT  NOT NULL,
    method       TEXT    NOT NULL, -- POST, PUT or DELETE
    deleted      BOOLEAN NOT NULL,
    content      TEXT,
    UNIQUE (res_type, res_id, version)
);
CREATE INDEX resource_versions_type_seq ON resource_versions (res_type, seq);
