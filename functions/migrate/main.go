// Command migrate is the card vault's job worker: started by an upload to
// the job files bucket and by job work events, it decrypts import files
// and vaults their rows in checkpointed batches, and writes exports; see
// package migrateworker and package migrate.
package main

import (
	"github.com/cardvault/vault/shared/app/bucket"
	"github.com/cardvault/vault/shared/app/importkeys"
	"github.com/cardvault/vault/shared/app/migrateworker"
)

func main() { migrateworker.Run(bucket.Files, importkeys.Ring) }
