// Package store is the vault's DynamoDB adapter: card records, the
// duplicate-detection index, the replay window, merchant secrets, wrapped
// merchant keys and their lifecycle (merchant directory, shred marks,
// re-encryption listing and progress), all in one table (docs/table.md
// describes its design).
//
// Every race is settled by a conditional write, never by a transaction, so
// the adapter behaves the same on AWS and on dynalite, which has none.
// Expired items linger (dynalite never deletes them, AWS's TTL sweep is
// late by up to days), so conditional writes take expired index and replay
// entries over, and Card hands expired cards to the caller to judge.
//
// Errors carry no item contents: a failed call is reported by operation
// name and DynamoDB error code only.
package store
