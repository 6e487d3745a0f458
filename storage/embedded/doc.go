// Package embedded runs the embedded default: a private PostgreSQL cluster in
// DIR/pg, created from the PostgreSQL binaries installed on the machine and
// listening only on a unix socket in DIR/run and logging to DIR/log.
//
// PostgreSQL refuses to run as root, so root runs it as the postgres
// account. When that account cannot reach DIR (root's data dir under root's
// private home), the cluster's pg, run and log go to a directory of its own
// under /var/lib/fhirserver that only the account may enter, linked from
// DIR/pg; the directory names its data dir, so a copied data dir is refused
// rather than shares it.
//
// Several processes may use one data dir at once (serve and the admin
// commands): the first to arrive starts the cluster, later ones join it
// through its socket, and the last to leave stops it. A file lock on DIR/.lock
// serialises those decisions; a shared lock on DIR/.users, held by every user
// for its whole life, tells the last one out that nobody else is left. A
// cluster counts as running only when it answers on its socket: the
// postmaster.pid of a crash is cleared once the crashed cluster's processes
// are gone, and PostgreSQL recovers from its WAL on start.
package embedded
