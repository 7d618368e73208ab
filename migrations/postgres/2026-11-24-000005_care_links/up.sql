-- Who has a care relationship with whom, kept with the CareTeams and EpisodeOfCares that say
-- so (rows replaced on every write of them): a member (a literal reference, or a logical one
-- by identifier) takes part in the care of a patient from start_day to end_day (YYYY-MM-DD,
-- both inclusive, NULL when open). Access checks read this instead of every care team.
CREATE TABLE care_link (
    res_type      TEXT NOT NULL,
    res_id        TEXT NOT NULL,
    patient       TEXT NOT NULL,
    member_type   TEXT,
    member_id     TEXT,
    member_system TEXT,
    member_value  TEXT,
    start_day     TEXT,
    end_day       TEXT
);
CREATE INDEX care_link_member ON care_link (member_type, member_id);
CREATE INDEX care_link_identifier ON care_link (member_system, member_value);
CREATE INDEX care_link_resource ON care_link (res_type, res_id);

-- A patient's decision on sharing their record (an active Consent with scope patient-privacy):
-- permit or deny, kept with that Consent.
CREATE TABLE sharing (
    res_id   TEXT NOT NULL,
    patient  TEXT NOT NULL,
    decision TEXT NOT NULL
);
CREATE INDEX sharing_patient ON sharing (patient, decision);
CREATE INDEX sharing_resource ON sharing (res_id);
