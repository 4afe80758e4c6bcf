// Command rotate-dek is the card vault's key worker: invoked by the
// rotation schedule and by work events, it rotates due merchant keys,
// re-encrypts records in checkpointed pages, re-wraps keys under a new
// KMS key and purges shredded merchants; see package app.
package main

import "github.com/cardvault/vault/shared/app"

func main() { app.RunWorker() }
