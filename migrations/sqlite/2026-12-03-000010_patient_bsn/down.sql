DROP TABLE patient_bsn;
