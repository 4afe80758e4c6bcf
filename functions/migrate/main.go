// Command migrate is the card vault's job worker: started by an upload to
// the job files bucket and by job work events, it decrypts import files
// and vaults their rows in checkpointed batches, and writes exports; see
// package app and package migrate.
package main

import "github.com/cardvault/vault/shared/app"

func main() { app.RunMigrate() }
