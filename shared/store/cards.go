package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/card"
	"github.com/cardvault/vault/shared/vault"
	"github.com/cardvault/vault/shared/vaulterr"
)

// cardItem is a card record as stored. The masked view sits in the clear
// beside the sealed card so that get_masked needs no key; nothing else of
// the card is in the clear.
type cardItem struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	MerchantID  string `dynamodbav:"merchant_id"`
	CustomerID  string `dynamodbav:"customer_id,omitempty"`
	Fingerprint string `dynamodbav:"fingerprint"`
	First4      string `dynamodbav:"first4,omitempty"`
	Last4       string `dynamodbav:"last4,omitempty"`
	Display     string `dynamodbav:"display,omitempty"`
	Brand       string `dynamodbav:"brand,omitempty"`
	ExpMonth    int    `dynamodbav:"exp_month"`
	ExpYear     int    `dynamodbav:"exp_year"`
	Sealed      []byte `dynamodbav:"sealed,omitempty"`
	KeyVersion  uint32 `dynamodbav:"key_version"`
	CreatedAt   string `dynamodbav:"created_at"`
	UpdatedAt   string `dynamodbav:"updated_at"`
	// ExpiresAt keeps the exact expiry the record was given; TTL holds it
	// in whole seconds for DynamoDB's sweep and the conditions.
	ExpiresAt string `dynamodbav:"expires_at,omitempty"`
	TTL       int64  `dynamodbav:"ttl,omitempty"`
	// Deleted marks a tombstone: DeleteCard's first step, after which the
	// ciphertext and the index keys are gone.
	Deleted bool   `dynamodbav:"deleted,omitempty"`
	GSI1PK  string `dynamodbav:"gsi1pk,omitempty"`
	GSI1SK  string `dynamodbav:"gsi1sk,omitempty"`
	// The listing indexes' keys (by_customer, by_fingerprint); a card
	// without a customer is listed by fingerprint only.
	CustomerPK    string `dynamodbav:"customer_pk,omitempty"`
	FingerprintPK string `dynamodbav:"fingerprint_pk,omitempty"`
	ListSK        string `dynamodbav:"list_sk,omitempty"`
}

func newCardItem(rec vault.CardRecord) cardItem {
	it := cardItem{
		PK:          cardPK(rec.Token),
		SK:          cardSK,
		MerchantID:  rec.MerchantID,
		CustomerID:  rec.CustomerID,
		Fingerprint: rec.Fingerprint,
		First4:      rec.Masked.First4,
		Last4:       rec.Masked.Last4,
		Display:     rec.Masked.Display,
		Brand:       string(rec.Masked.Brand),
		ExpMonth:    rec.Masked.ExpMonth,
		ExpYear:     rec.Masked.ExpYear,
		Sealed:      rec.Sealed,
		KeyVersion:  rec.KeyVersion,
		CreatedAt:   formatTime(rec.CreatedAt),
		UpdatedAt:   formatTime(rec.UpdatedAt),
		ExpiresAt:   formatTime(rec.ExpiresAt),
		TTL:         ttlSeconds(rec.ExpiresAt),
		Deleted:     rec.Deleted,
	}
	if !rec.Deleted { // a tombstone has nothing to rotate, count or list
		it.GSI1PK = merchantIndexPK(rec.MerchantID, shardOf(rec.Token))
		it.GSI1SK = cardGSI1SK(rec.KeyVersion, rec.Token)
		if rec.CustomerID != "" {
			it.CustomerPK = customerListPK(rec.MerchantID, rec.CustomerID)
		}
		it.FingerprintPK = fingerprintListPK(rec.MerchantID, rec.Fingerprint)
		it.ListSK = listSK(rec.CreatedAt, rec.Token)
	}
	return it
}

func (it cardItem) record(token string) (vault.CardRecord, error) {
	rec := vault.CardRecord{
		Token:       token,
		MerchantID:  it.MerchantID,
		CustomerID:  it.CustomerID,
		Fingerprint: it.Fingerprint,
		Masked: card.Masked{
			First4:   it.First4,
			Last4:    it.Last4,
			Display:  it.Display,
			Brand:    card.Brand(it.Brand),
			ExpMonth: it.ExpMonth,
			ExpYear:  it.ExpYear,
		},
		Sealed:     it.Sealed,
		KeyVersion: it.KeyVersion,
		Deleted:    it.Deleted,
	}
	var err error
	if rec.CreatedAt, err = parseTime(it.CreatedAt); err != nil {
		return vault.CardRecord{}, err
	}
	if rec.UpdatedAt, err = parseTime(it.UpdatedAt); err != nil {
		return vault.CardRecord{}, err
	}
	if rec.ExpiresAt, err = parseTime(it.ExpiresAt); err != nil {
		return vault.CardRecord{}, err
	}
	if !it.Deleted && it.TTL != ttlSeconds(rec.ExpiresAt) {
		// A live card's ttl is its expires_at in whole seconds, written
		// with it every time (only a tombstone's is set to its deletion);
		// expires_at is bound to the ciphertext, so this is how a ttl
		// changed to have the card swept early, or kept, is noticed.
		return vault.CardRecord{}, vaulterr.New(vaulterr.Integrity, "stored record failed authentication")
	}
	return rec, nil
}

// CreateCard stores rec unless its token is taken (vault.ErrConflict). A
// record with the very same ciphertext is this write already done (sealing
// uses a fresh random nonce, so no other write can match it): an SDK retry
// of a put whose answer was lost succeeds instead of conflicting with
// itself.
func (s *Store) CreateCard(ctx context.Context, rec vault.CardRecord) error {
	item, err := attributevalue.MarshalMap(newCardItem(rec))
	if err != nil {
		return corrupt("card", err)
	}
	return s.putOnce(ctx, item, "sealed", rec.Sealed, vault.ErrConflict)
}

// ReplaceCard overwrites the whole stored record of rec.Token, provided it
// exists, belongs to rec.MerchantID, is the same card (fingerprint and
// customer), is not deleted and has not expired;
// otherwise vault.ErrNotFound. The merchant condition makes a token of
// another merchant indistinguishable from a missing one, and the other two
// keep a dead card from being brought back. rec is written as given:
// the caller passes the record it read, CreatedAt included.
func (s *Store) ReplaceCard(ctx context.Context, rec vault.CardRecord) error {
	item, err := attributevalue.MarshalMap(newCardItem(rec))
	if err != nil {
		return corrupt("card", err)
	}
	// The same card: a card-shaped token is short enough to be drawn
	// again once its first card is gone, and an update must never land
	// on the card that took it over.
	sameCard := "fingerprint = :fp AND attribute_not_exists(customer_id)"
	values := map[string]types.AttributeValue{
		":m":   &types.AttributeValueMemberS{Value: rec.MerchantID},
		":now": epochValue(s.now()),
		":fp":  &types.AttributeValueMemberS{Value: rec.Fingerprint},
	}
	if rec.CustomerID != "" {
		sameCard = "fingerprint = :fp AND customer_id = :c"
		values[":c"] = &types.AttributeValueMemberS{Value: rec.CustomerID}
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_exists(pk) AND merchant_id = :m AND " + sameCard + " AND attribute_not_exists(deleted) AND (attribute_not_exists(#ttl) OR #ttl > :now)"),
		ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: values,
	})
	return conditional("PutItem", err, vault.ErrNotFound)
}

// Card returns the record for token, or vault.ErrNotFound when there is
// no item. An expired or deleted card is returned as stored (ExpiresAt in
// the past, or Deleted): the caller decides what a dead card means, and the
// card vault needs to see one to take its index entry over. Expired items
// linger because dynalite never deletes them and AWS deletes them late.
func (s *Store) Card(ctx context.Context, token string) (vault.CardRecord, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(cardPK(token), cardSK),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return vault.CardRecord{}, unavailable("GetItem", err)
	}
	if out.Item == nil {
		return vault.CardRecord{}, vault.ErrNotFound
	}
	var it cardItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return vault.CardRecord{}, corrupt("card", err)
	}
	rec, err := it.record(token)
	if vaulterr.CodeOf(err) == vaulterr.Integrity {
		return vault.CardRecord{}, err
	}
	if err != nil {
		return vault.CardRecord{}, corrupt("card", err)
	}
	return rec, nil
}

// itemKey is the primary key of an item.
func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: pk},
		attrSK: &types.AttributeValueMemberS{Value: sk},
	}
}
