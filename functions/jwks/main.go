// Command jwks is the jwks Lambda function of the card vault (the vault's
// public JWKS, the import key's public half, health); see package app for
// what it serves and the environment it reads.
package main

import (
	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/app/importkeys"
)

func main() { app.RunLambda(app.JWKS, importkeys.PublicKey) }
