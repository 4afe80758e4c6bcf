// Command jobs is the jobs Lambda function of the card vault
// (import_cards, export_cards, get_job); see package app for what it
// serves and the environment it reads.
package main

import "github.com/cardvault/vault/shared/app"

func main() { app.RunLambda("jobs") }
