// Command jobs is the jobs Lambda function of the card vault
// (import_cards, export_cards, get_job); see package app for what it
// serves and the environment it reads, and package bucket for its files.
package main

import (
	"github.com/cardvault/vault/shared/app"
	"github.com/cardvault/vault/shared/app/bucket"
)

func main() { app.RunLambda(app.Jobs, bucket.Files) }
