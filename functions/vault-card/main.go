// Command vault-card is the vault-card Lambda function of the card vault; see
// package app for what it serves and the environment it reads.
package main

import "github.com/cardvault/vault/shared/app"

func main() { app.RunLambda(app.VaultCard) }
