package store

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/vault"
)

var _ vault.CardLister = (*Store)(nil)

// listTimeLayout is the creation time in a listing sort key: to the
// second, as answers show it, and fixed width, so that string order is
// time order (RFC 3339 with fractions is not: "…05Z" sorts after
// "…05.1Z").
const listTimeLayout = "2006-01-02T15:04:05Z"

// customerListPK, fingerprintListPK and listSK are a card's keys in the
// by_customer and by_fingerprint indexes.
func customerListPK(merchantID, customerID string) string {
	return customerListPfx + keyPart(merchantID) + "#" + keyPart(customerID)
}

func fingerprintListPK(merchantID, fingerprint string) string {
	return fingerprintListPfx + keyPart(merchantID) + "#" + keyPart(fingerprint)
}

func listSK(createdAt time.Time, token string) string {
	return createdAt.UTC().Format(listTimeLayout) + "#" + keyPart(token)
}

// parseListSK reads a sort key written by listSK.
func parseListSK(sk string) (vault.CardListPosition, bool) {
	at, token, ok := strings.Cut(sk, "#")
	if !ok || token == "" {
		return vault.CardListPosition{}, false
	}
	t, err := time.Parse(listTimeLayout, at)
	if err != nil {
		return vault.CardListPosition{}, false
	}
	return vault.CardListPosition{CreatedAt: t, Token: unescapeKeyPart(token)}, true
}

// listedCard is a card as the listing indexes project it: the masked view
// and what decides whether it is shown; never the ciphertext.
type listedCard struct {
	PK          string `dynamodbav:"pk"`
	MerchantID  string `dynamodbav:"merchant_id"`
	CustomerID  string `dynamodbav:"customer_id,omitempty"`
	Fingerprint string `dynamodbav:"fingerprint"`
	First4      string `dynamodbav:"first4,omitempty"`
	Last4       string `dynamodbav:"last4,omitempty"`
	Display     string `dynamodbav:"display,omitempty"`
	Brand       string `dynamodbav:"brand,omitempty"`
	ExpMonth    int    `dynamodbav:"exp_month"`
	ExpYear     int    `dynamodbav:"exp_year"`
	CreatedAt   string `dynamodbav:"created_at"`
	ExpiresAt   string `dynamodbav:"expires_at,omitempty"`
	TTL         int64  `dynamodbav:"ttl,omitempty"`
}

// ListCards reads one page of a merchant's cards of a customer or a
// fingerprint, newest first, with one Query of the by_customer or
// by_fingerprint index: Limit entries at most, starting below q.After
// (a key condition, so no item outside the listing's partition can be
// named), expired entries filtered out by DynamoDB after they were read.
// The page's Next is the last entry read, whenever the query stopped
// before the end of the partition; a page can therefore be short, or
// empty, and still have a Next.
func (s *Store) ListCards(ctx context.Context, q vault.CardListQuery) (vault.CardListPage, error) {
	index, keyAttr, pk := indexByCustomer, attrCustomerListPK, customerListPK(q.MerchantID, q.Subject)
	if q.By == vault.ListByFingerprint {
		index, keyAttr, pk = indexByFingerprint, attrFingerprintListPK, fingerprintListPK(q.MerchantID, q.Subject)
	}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		IndexName:              aws.String(index),
		KeyConditionExpression: aws.String("#pk = :pk"),
		FilterExpression:       aws.String("attribute_not_exists(#ttl) OR #ttl > :now"),
		ExpressionAttributeNames: map[string]string{
			"#pk": keyAttr, "#ttl": attrTTL,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":  &types.AttributeValueMemberS{Value: pk},
			":now": epochValue(q.Now),
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(int32(min(max(q.Limit, 1), vault.MaxListLimit))), // #nosec G115 -- bounded to 1..100
	}
	if q.After != nil {
		in.KeyConditionExpression = aws.String("#pk = :pk AND #sk < :after")
		in.ExpressionAttributeNames["#sk"] = attrListSK
		in.ExpressionAttributeValues[":after"] = &types.AttributeValueMemberS{Value: listSK(q.After.CreatedAt, q.After.Token)}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return vault.CardListPage{}, unavailable("Query", err)
	}
	page := vault.CardListPage{Cards: make([]vault.CardRecord, 0, len(out.Items))}
	for _, av := range out.Items {
		var it listedCard
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return vault.CardListPage{}, corrupt("card listing entry", err)
		}
		rec, err := it.record()
		if err != nil {
			return vault.CardListPage{}, err
		}
		page.Cards = append(page.Cards, rec)
	}
	if len(out.LastEvaluatedKey) > 0 {
		sk, ok := out.LastEvaluatedKey[attrListSK].(*types.AttributeValueMemberS)
		if !ok {
			return vault.CardListPage{}, corrupt("card listing entry", errNoListKey)
		}
		next, ok := parseListSK(sk.Value)
		if !ok {
			return vault.CardListPage{}, corrupt("card listing entry", errNoListKey)
		}
		page.Next = &next
	}
	return page, nil
}

func (it listedCard) record() (vault.CardRecord, error) {
	token, ok := strings.CutPrefix(it.PK, cardPrefix)
	if !ok {
		return vault.CardRecord{}, corrupt("card listing entry", errNoListKey)
	}
	full := cardItem{
		MerchantID: it.MerchantID, CustomerID: it.CustomerID, Fingerprint: it.Fingerprint,
		First4: it.First4, Last4: it.Last4, Display: it.Display, Brand: it.Brand,
		ExpMonth: it.ExpMonth, ExpYear: it.ExpYear, CreatedAt: it.CreatedAt, UpdatedAt: it.CreatedAt, ExpiresAt: it.ExpiresAt,
		TTL: it.TTL,
	}
	rec, err := full.record(unescapeKeyPart(token))
	if err != nil {
		return vault.CardRecord{}, corrupt("card listing entry", err)
	}
	return rec, nil
}
