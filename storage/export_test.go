package storage

// ReadCurrentSQL is exposed to the external tests, which check its plan.
const ReadCurrentSQL = readCurrentSQL
