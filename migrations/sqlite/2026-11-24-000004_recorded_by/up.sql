-- The organisations (URA) that wrote a version of each resource: an organisation always reads
-- what it recorded itself, also when it no longer has a care relationship with the patient.
CREATE TABLE recorded_by (
    res_type     TEXT NOT NULL,
    res_id       TEXT NOT NULL,
    organization TEXT NOT NULL,
    PRIMARY KEY (res_type, res_id, organization)
);
CREATE INDEX recorded_by_organization ON recorded_by (organization, res_type, res_id);
