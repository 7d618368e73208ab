-- Search index rows of the current version of each resource, written in the same transaction
-- as the version itself; `param` is the search parameter's code.
CREATE TABLE search_token (
    res_type TEXT NOT NULL,
    res_id   TEXT NOT NULL,
    param    TEXT NOT NULL,
    system   TEXT,
    code     TEXT,
    display  TEXT
);
CREATE INDEX search_token_code ON search_token (res_type, param, code, system);
CREATE INDEX search_token_resource ON search_token (res_type, res_id);

CREATE TABLE search_string (
    res_type   TEXT NOT NULL,
    res_id     TEXT NOT NULL,
    param      TEXT NOT NULL,
    normalized TEXT NOT NULL, -- lower case, accents removed
    exact      TEXT NOT NULL
);
CREATE INDEX search_string_value ON search_string (res_type, param, normalized);
CREATE INDEX search_string_resource ON search_string (res_type, res_id);

CREATE TABLE search_reference (
    res_type          TEXT NOT NULL,
    res_id            TEXT NOT NULL,
    param             TEXT NOT NULL,
    target_type       TEXT,
    target_id         TEXT,
    version           TEXT,
    url               TEXT,
    identifier_system TEXT,
    identifier_value  TEXT
);
CREATE INDEX search_reference_target ON search_reference (res_type, param, target_id, target_type);
CREATE INDEX search_reference_url ON search_reference (res_type, param, url);
CREATE INDEX search_reference_resource ON search_reference (res_type, res_id);
CREATE INDEX search_reference_reverse ON search_reference (target_type, target_id);

CREATE TABLE search_date (
    res_type TEXT   NOT NULL,
    res_id   TEXT   NOT NULL,
    param    TEXT   NOT NULL,
    low      BIGINT NOT NULL, -- microseconds since the epoch, UTC; the value covers [low, high]
    high     BIGINT NOT NULL
);
CREATE INDEX search_date_low ON search_date (res_type, param, low);
CREATE INDEX search_date_high ON search_date (res_type, param, high);
CREATE INDEX search_date_resource ON search_date (res_type, res_id);

CREATE TABLE search_number (
    res_type TEXT NOT NULL,
    res_id   TEXT NOT NULL,
    param    TEXT NOT NULL,
    value    DOUBLE PRECISION NOT NULL,
    system   TEXT,   -- quantities only
    code     TEXT,
    unit     TEXT
);
CREATE INDEX search_number_value ON search_number (res_type, param, value);
CREATE INDEX search_number_resource ON search_number (res_type, res_id);

CREATE TABLE search_uri (
    res_type TEXT NOT NULL,
    res_id   TEXT NOT NULL,
    param    TEXT NOT NULL,
    value    TEXT NOT NULL
);
CREATE INDEX search_uri_value ON search_uri (res_type, param, value);
CREATE INDEX search_uri_resource ON search_uri (res_type, res_id);
