DROP TABLE recorded_by;
