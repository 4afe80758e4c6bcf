// Package inproc holds the benchmarks that run inside one process with no
// database: the request path against the bare JOSE floor, KMS calls
// against Tink's envelope AEAD, ciphertext sizes, and coalescing of
// concurrent key-cache misses. The storage ports are in memory
// (shared/memstore) so that only the vault's own CPU is measured.
package inproc
