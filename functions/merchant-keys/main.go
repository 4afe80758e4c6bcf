// Command merchant-keys is the merchant-keys Lambda function of the card
// vault (rotate_keys, get_keys, shred_merchant); see package app.
package main

import "github.com/cardvault/vault/shared/app"

func main() { app.RunLambda(app.MerchantKeys) }
