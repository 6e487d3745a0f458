// Package embedded runs the embedded default: a private PostgreSQL cluster in
// DIR/pg, created from the PostgreSQL binaries installed on the machine and
// listening only on a unix socket in DIR/run and logging to DIR/log.
//
// Several processes may use one data dir at once (serve and the admin
// commands): the first to arrive starts the cluster, later ones join it
// through its socket, and the last to leave stops it. A file lock on DIR/.lock
// serialises those decisions; a shared lock on DIR/.users, held by every user
// for its whole life, tells the last one out that nobody else is left.
package embedded
