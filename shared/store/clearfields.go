package store

import (
	"bytes"
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// WithClearFields reads a listed record's item (consistently: the index
// it was listed from lags) and returns rec with its clear fields, encoded
// by the vault, for re-encryption to bind a format 1 record to them. An item that is gone, of another
// merchant, or that holds another ciphertext than the listed one is
// vault.ErrConflict: every write that changes a record's clear fields
// replaces its ciphertext in the same write, so an unchanged ciphertext
// means unchanged clear fields, and ResealRecord's condition on it keeps
// that true up to the reseal.
func (s *Store) WithClearFields(ctx context.Context, rec vault.SealedRecord) (vault.SealedRecord, error) {
	addr, err := recordAddressOf(rec)
	if err != nil {
		return vault.SealedRecord{}, err
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            addr.key(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return vault.SealedRecord{}, unavailable("GetItem", err)
	}
	if out.Item == nil {
		return vault.SealedRecord{}, vault.ErrConflict
	}
	var merchantID string
	var sealed []byte
	if addr.card {
		var it cardItem
		if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
			return vault.SealedRecord{}, corrupt("card", err)
		}
		card, err := it.record(rec.Ref.ID)
		if vaulterr.CodeOf(err) == vaulterr.Integrity {
			return vault.SealedRecord{}, err
		}
		if err != nil {
			return vault.SealedRecord{}, corrupt("card", err)
		}
		merchantID, sealed, rec.Ref.Clear = card.MerchantID, card.Sealed, vault.CardClearFields(card)
	} else {
		var it secretItem
		if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
			return vault.SealedRecord{}, corrupt("secret", err)
		}
		if it.Tombstone != "" {
			// Pruned or deleted since it was listed: gone, like a
			// missing item.
			return vault.SealedRecord{}, vault.ErrConflict
		}
		secret, err := it.record()
		if err != nil {
			return vault.SealedRecord{}, err
		}
		merchantID, sealed, rec.Ref.Clear = secret.MerchantID, secret.Sealed, vault.SecretClearFields(secret)
	}
	if merchantID != rec.Ref.MerchantID || !bytes.Equal(sealed, rec.Sealed) {
		return vault.SealedRecord{}, vault.ErrConflict
	}
	return rec, nil
}
