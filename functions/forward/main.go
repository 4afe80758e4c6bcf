// Command forward is the forward Lambda function of the card vault; see
// package app for what it serves and the environment it reads, and
// package destinations for where it forwards.
package main

import (
	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/app/destinations"
)

func main() { app.RunLambda(app.Forward, destinations.Forward) }
