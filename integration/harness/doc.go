// Package harness runs real mail servers on loopback for Mamori's integration
// tests: a private Postfix instance in front of a milter, a private Sendmail
// in its own mount namespace, a real clamd with a signature database the
// tests generate (EICAR and a marker of our own) and Debian's clamav-milter
// for comparison, the mamori binary itself, an in-process SMTP sink that
// records what the MTA relays, and a small SMTP client that reports the
// exact reply and stage at which a transaction stopped.
//
// Everything listens on 127.0.0.1 at ports chosen at run time, and each
// Postfix instance has its own configuration, queue and data directories, so
// tests can run in parallel and never touch a system mail server.
//
// Postfix needs root (its master runs as root and its daemons drop to the
// postfix user) and the Debian postfix package. Without either, StartPostfix
// skips the test, unless MAMORI_REQUIRE_INTEGRATION=1 is set, in which case it
// fails, so that CI cannot pass by skipping everything.
package harness
