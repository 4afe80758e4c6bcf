package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cardvault/vault/shared/envelope"
	"github.com/cardvault/vault/shared/vault"
)

// recordKeySep separates pk and sk in SealedRecord.Key. Keys are built
// from escaped ids and fixed prefixes, which never hold a NUL.
const recordKeySep = "\x00"

// RecordsBelow lists up to limit of the merchant's records (cards and
// secret versions) sealed with a key version below `below`, after cursor.
// It walks the merchant's by_merchant shards in order (gsi1sk <
// "V#<below>"), reading each record's ciphertext and key version from the
// index itself, which projects them. The index lags the table a little,
// so a listed record can be stale: replaced, deleted or already resealed
// since. That is safe because the one write a listing leads to,
// ResealRecord, is conditional on the listed ciphertext: a stale record
// is a vault.ErrConflict, and the next pass lists it as it now is.
func (s *Store) RecordsBelow(ctx context.Context, merchantID string, below uint32, cursor string, limit int) ([]vault.SealedRecord, string, error) {
	if below == 0 {
		return nil, "", nil
	}
	return s.listRecords(ctx, merchantID, &below, cursor, limit)
}

// RecordsOf lists up to limit of the merchant's records of every key
// version, after cursor, for purging a shredded merchant. It reads the
// way RecordsBelow does; DeleteRecord, the write it leads to, is safe on
// a stale record.
func (s *Store) RecordsOf(ctx context.Context, merchantID string, cursor string, limit int) ([]vault.SealedRecord, string, error) {
	return s.listRecords(ctx, merchantID, nil, cursor, limit)
}

// listRecords is RecordsBelow (below set) and RecordsOf (below nil). It
// reads up to limit index entries from the merchant's shards, from the
// cursor on, and returns them with the cursor after the last one.
func (s *Store) listRecords(ctx context.Context, merchantID string, below *uint32, cursor string, limit int) ([]vault.SealedRecord, string, error) {
	pos, err := decodeListCursor(cursor, merchantID)
	if err != nil {
		return nil, "", err
	}
	limit = pageSize(limit)
	recs := make([]vault.SealedRecord, 0, limit)
	for shard := pos.Shard; shard < merchantShards; shard++ {
		in := &dynamodb.QueryInput{
			TableName:                aws.String(s.table),
			IndexName:                aws.String(indexByMerchant),
			KeyConditionExpression:   aws.String("gsi1pk = :pk"),
			ProjectionExpression:     aws.String(recordProjection.expr),
			ExpressionAttributeNames: recordProjection.names,
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: merchantIndexPK(merchantID, shard)},
			},
		}
		if below != nil {
			// Every sort key of a version under `below` sorts before
			// "V#<below>"; those of `below` and above after it.
			in.KeyConditionExpression = aws.String("gsi1pk = :pk AND gsi1sk < :upper")
			in.ExpressionAttributeValues[":upper"] = &types.AttributeValueMemberS{Value: versionKey(*below)}
		}
		if shard == pos.Shard && pos.After != nil {
			in.ExclusiveStartKey = pos.After.attributeValues()
		}
		for {
			in.Limit = aws.Int32(int32(limit - len(recs))) // #nosec G115 -- limit comes from pageSize, at most maxPageSize
			out, err := s.db.Query(ctx, in)
			if err != nil {
				return nil, "", unavailable("Query", err)
			}
			for _, av := range out.Items {
				rec, err := sealedRecordOf(av, merchantID)
				if err != nil {
					return nil, "", err
				}
				recs = append(recs, rec)
			}
			if len(out.LastEvaluatedKey) == 0 {
				break // shard done
			}
			if len(recs) == limit {
				next, err := encodeListCursor(shard, out.LastEvaluatedKey)
				return recs, next, err
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
		if len(recs) == limit && shard+1 < merchantShards {
			next, err := encodeListCursor(shard+1, nil)
			return recs, next, err
		}
	}
	return recs, "", nil
}

// itemAddress is an item's primary key.
type itemAddress struct{ PK, SK string }

func (a itemAddress) key() map[string]types.AttributeValue { return itemKey(a.PK, a.SK) }

func (a itemAddress) String() string { return a.PK + recordKeySep + a.SK }

// recordProjection is what a listing reads of each index entry: the item
// key and every attribute the by_merchant index projects
// (indexedAttributes), enough for the record's AAD reference, its
// ciphertext and key version. It is derived from that list so that a
// listing never asks for what the index does not carry. Every name goes
// through a placeholder (name is a reserved word).
var recordProjection = projectionOf(append([]string{attrPK, attrSK}, indexedAttributes...))

// projection is a ProjectionExpression with its name placeholders.
type projection struct {
	expr  string
	names map[string]string
}

// projectionOf is the projection of attrs, each through a placeholder.
func projectionOf(attrs []string) projection {
	var p projection
	placeholders := make([]string, len(attrs))
	p.names = make(map[string]string, len(attrs))
	for i, a := range attrs {
		placeholders[i] = "#a" + strconv.Itoa(i)
		p.names[placeholders[i]] = a
	}
	p.expr = strings.Join(placeholders, ", ")
	return p
}

// sealedRecordOf turns a listed index entry into a SealedRecord. A card
// tombstone leaves the index, so every entry holds a ciphertext; one
// without (an index that does not project it), of another merchant or of
// an unknown kind is corrupt: listing it as nothing to do would let a
// rotation destroy a key version still in use.
func sealedRecordOf(av map[string]types.AttributeValue, merchantID string) (vault.SealedRecord, error) {
	var it struct {
		PK         string `dynamodbav:"pk"`
		SK         string `dynamodbav:"sk"`
		MerchantID string `dynamodbav:"merchant_id"`
		Sealed     []byte `dynamodbav:"sealed"`
		KeyVersion uint32 `dynamodbav:"key_version"`
		Name       string `dynamodbav:"name"`
		Version    uint32 `dynamodbav:"version"`
	}
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return vault.SealedRecord{}, corrupt("record", err)
	}
	switch {
	case it.PK == "" || it.SK == "":
		return vault.SealedRecord{}, corrupt("record", errors.New("index entry without its item key"))
	case it.MerchantID != merchantID:
		return vault.SealedRecord{}, corrupt("record", errors.New("another merchant's item in the merchant's index"))
	case len(it.Sealed) == 0 || it.KeyVersion == 0:
		return vault.SealedRecord{}, corrupt("record", errors.New("index entry without ciphertext or key version"))
	}
	addr := itemAddress{PK: it.PK, SK: it.SK}
	rec := vault.SealedRecord{Sealed: it.Sealed, KeyVersion: it.KeyVersion, Key: addr.String()}
	switch {
	case strings.HasPrefix(addr.PK, cardPrefix) && addr.SK == cardSK:
		rec.Ref = envelope.RecordRef{Type: envelope.RecordCard, MerchantID: merchantID, ID: unescapeKeyPart(addr.PK[len(cardPrefix):])}
	case strings.HasPrefix(addr.PK, secretPrefix) && it.Name != "":
		rec.Ref = envelope.RecordRef{Type: envelope.RecordSecret, MerchantID: merchantID, ID: vault.SecretRecordID(it.Name, it.Version)}
	default:
		return vault.SealedRecord{}, corrupt("record", errors.New("an item of unknown kind in the merchant's index"))
	}
	return rec, nil
}

// listCursor is where a listing stopped: the shard to read next and, if
// that shard was read part-way, the index key to resume after.
type listCursor struct {
	Shard int            `json:"s"`
	After *indexPosition `json:"k,omitempty"`
}

// indexPosition is a LastEvaluatedKey of the by_merchant index: the
// index keys and the table keys, all strings.
type indexPosition struct {
	GSI1PK string `json:"gp"`
	GSI1SK string `json:"gs"`
	PK     string `json:"p"`
	SK     string `json:"k"`
}

func (p *indexPosition) attributeValues() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrGSI1PK: &types.AttributeValueMemberS{Value: p.GSI1PK},
		attrGSI1SK: &types.AttributeValueMemberS{Value: p.GSI1SK},
		attrPK:     &types.AttributeValueMemberS{Value: p.PK},
		attrSK:     &types.AttributeValueMemberS{Value: p.SK},
	}
}

// encodeListCursor is base64url of a small JSON: opaque to callers, which
// keep it in the rotation state between invocations.
func encodeListCursor(shard int, lastEvaluated map[string]types.AttributeValue) (string, error) {
	c := listCursor{Shard: shard}
	if lastEvaluated != nil {
		str := func(name string) (string, bool) {
			v, ok := lastEvaluated[name].(*types.AttributeValueMemberS)
			if !ok {
				return "", false
			}
			return v.Value, true
		}
		var p indexPosition
		var ok [4]bool
		p.GSI1PK, ok[0] = str(attrGSI1PK)
		p.GSI1SK, ok[1] = str(attrGSI1SK)
		p.PK, ok[2] = str(attrPK)
		p.SK, ok[3] = str(attrSK)
		if ok != [4]bool{true, true, true, true} {
			return "", corrupt("index position", errors.New("LastEvaluatedKey lacks a key attribute"))
		}
		c.After = &p
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", corrupt("listing cursor", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeListCursor reads a cursor of encodeListCursor and checks that it
// is a position in this merchant's index, so that a cursor can never
// steer a listing into another merchant's records.
func decodeListCursor(cursor, merchantID string) (listCursor, error) {
	if cursor == "" {
		return listCursor{}, nil
	}
	bad := func(why string) (listCursor, error) {
		return listCursor{}, corrupt("listing cursor", errors.New(why))
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return bad("not base64url")
	}
	var c listCursor
	if err := json.Unmarshal(raw, &c); err != nil {
		return bad("not a listing cursor")
	}
	if c.Shard < 0 || c.Shard >= merchantShards {
		return bad("shard out of range")
	}
	if c.After != nil && (c.After.GSI1PK != merchantIndexPK(merchantID, c.Shard) || c.After.PK == "" || c.After.SK == "" || c.After.GSI1SK == "") {
		return bad("position outside the merchant's shard")
	}
	return c, nil
}
