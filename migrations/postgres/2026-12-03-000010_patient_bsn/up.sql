-- One current Patient per BSN: the BSN of every current Patient, each held by one Patient.
-- A write that would give a second Patient a BSN that is held collides on the key, whatever
-- the writer may see. Existing duplicates keep their first Patient here; `pzp-fhir
-- duplicates` lists them.
CREATE TABLE patient_bsn (
    bsn    TEXT NOT NULL PRIMARY KEY,
    res_id TEXT NOT NULL
);
CREATE INDEX patient_bsn_resource ON patient_bsn (res_id);
INSERT INTO patient_bsn (bsn, res_id)
SELECT t.code, MIN(t.res_id)
FROM search_token t
JOIN resources r ON r.res_type = t.res_type AND r.res_id = t.res_id AND NOT r.deleted
WHERE t.res_type = 'Patient' AND t.param = 'identifier'
  AND t.system = 'http://fhir.nl/fhir/NamingSystem/bsn' AND t.code IS NOT NULL
GROUP BY t.code;
