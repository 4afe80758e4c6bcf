// Package dynamo holds the benchmarks that need a DynamoDB: the vault
// end to end over loopback HTTP against local mode on dynalite, with raw
// dynalite throughput beside it, and rotation re-encryption. Each starts
// its own in-memory dynalite (internal/localdb); `make deps` installs it.
package dynamo
