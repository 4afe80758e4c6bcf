// Package dynalite runs dynalite, the DynamoDB-compatible server from npm,
// as a child process: local mode's database, and the one its tests and
// the store's tests run against.
//
// dynalite speaks DynamoDB's wire protocol but has no transactions and never
// deletes expired items; the store adapter is written for both facts, so
// tests against it exercise the same code paths as AWS.
//
// The child runs in its own process group and, on Linux, is killed by the
// kernel if the parent dies, so a crashed test binary or local server does
// not leave a dynalite behind.
package dynalite
